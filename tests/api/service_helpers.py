"""The running-service handle shared by the API tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from api.server import ServerThread
from api.settings import Settings
from gis.options import Band
from gis.store import Store, VersionInfo

BAND_V1 = Band(300, 800, target=500)
BAND_V2 = Band(400, 600, target=450)
"""The bands of the session's two versions: version 2 is judged by a narrower band, so the
service must tell them apart."""


@dataclass
class Service:
    """A running service and the store behind it."""

    kind: str
    url: str
    store: Store
    settings: Settings
    server: ServerThread

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client for the service."""
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    @property
    def versions(self) -> list[VersionInfo]:
        """The store's versions."""
        return self.store.versions()
