"""The running-service handle shared by the API tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from api.server import ServerThread
from api.settings import Settings
from gis.store import Store, VersionInfo


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
