"""The service's background work: polling the store for a new live version.

The library's :class:`gis.serving.lookup.LiveIndex` refreshes only when asked
(:meth:`~gis.serving.lookup.LiveIndex.refresh`); the service asks every
``settings.poll_interval_s`` seconds from one daemon thread, started by the app's lifespan
and stopped when it ends. A refresh that fails (the database restarting) keeps the last good
index, so lookups go on answering from memory; the next poll reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gis.errors import VersionNotFoundError
from gis.serving.lookup import LiveIndex

logger = logging.getLogger(__name__)


@dataclass
class LivePoller:
    """Refreshes ``live`` every ``interval_s`` seconds in a daemon thread (0: never).

    Parameters
    ----------
    live
        The index to keep up to date.
    interval_s
        Seconds between two refreshes; 0 or less disables polling (publishing through the
        API still refreshes).
    on_reload
        Called with the new version's id each time a refresh moves the live index to another
        version (the service's metrics count them).
    """

    live: LiveIndex
    interval_s: float
    on_reload: list[Callable[[int], None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _refreshing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start polling (no-op when already polling or when ``interval_s`` ≤ 0)."""
        if self._thread is not None or self.interval_s <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wangge-live-index", daemon=True)
        self._thread.start()

    def refresh(self) -> bool:
        """Refresh the index once (what each poll does), then tell ``on_reload`` when the
        live version changed.

        Returns
        -------
        bool
            Whether the store answered (see :meth:`gis.serving.lookup.LiveIndex.refresh`).
        """
        with self._refreshing:  # one at a time, so a change is reported once
            before = self._live_id()
            answered = self.live.refresh()
            after = self._live_id()
        if after is not None and after != before:
            for hook in self.on_reload:
                hook(after)
        return answered

    def _live_id(self) -> int | None:
        """The live version's id when its index is in memory (None: not loaded, or none)."""
        try:
            found = self.live.cached()
        except VersionNotFoundError:  # nothing published yet
            return None
        return found.version_id if found is not None else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except Exception:  # refresh keeps its own errors; never let the thread die
                logger.exception("live index refresh failed")

    def stop(self) -> None:
        """Stop polling and wait (up to 5 s) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
