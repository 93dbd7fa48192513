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
from dataclasses import dataclass, field

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
    """

    live: LiveIndex
    interval_s: float
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
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

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.live.refresh()
            except Exception:  # refresh keeps its own errors; never let the thread die
                logger.exception("live index refresh failed")

    def stop(self) -> None:
        """Stop polling and wait (up to 5 s) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
