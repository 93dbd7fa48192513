"""Lookups keep answering while PostgreSQL restarts (real ``pg_ctlcluster … restart``).

The restart is bounded (one restart inside a ~6 s loopback load loop) and the test makes
sure the cluster is up again afterwards, whatever happens. It restarts the whole local
cluster, so other clients of that cluster see their connections dropped: set
``WANGGE_TEST_NO_PG_RESTART=1`` to leave it out on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from service_helpers import Service

CLUSTER = ("15", "main")
pytestmark = [
    pytest.mark.postgis,
    pytest.mark.skipif(
        os.environ.get("WANGGE_TEST_NO_PG_RESTART") == "1", reason="WANGGE_TEST_NO_PG_RESTART=1"
    ),
]


def _ready(timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0
        if ok:
            return True
        time.sleep(0.2)
    return False


def _load(
    url: str,
    points: tuple[np.ndarray, np.ndarray, list],
    stop: threading.Event,
    failures: list[str],
    answered: dict[str, int],
) -> None:
    """Single lookups (and now and then a never-cached tile) until ``stop``, checked."""
    lon, lat, want = points
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            k = i % len(lon)
            try:
                r = client.get("/lookup", params={"lon": lon[k], "lat": lat[k]})
                code = r.json()["grid"]["grid_code"] if r.status_code == 200 else None
                if r.status_code not in (200, 404) or code != want[k]:
                    failures.append(f"lookup {k}: {r.status_code} {r.text[:120]}")
                answered["lookups"] += 1
                if i % 25 == 0:  # a never-cached tile: PostGIS, or memory when it is down
                    t = client.get(f"/tiles/2/18/{219_000 + i}/{107_000 + i}.mvt")
                    if t.status_code != 200:
                        failures.append(f"tile: {t.status_code} {t.text[:120]}")
                    answered["tiles"] += 1
            except httpx.HTTPError as exc:
                failures.append(f"lookup {k}: {exc!r}")
            i += 1


def test_lookups_survive_a_postgresql_restart(
    pg_service: Service, fault_log: Callable[[str], None]
) -> None:
    assert shutil.which("pg_ctlcluster"), "pg_ctlcluster (postgresql-common) is needed"
    grids = pg_service.store.read_grids()
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(x0, x1, 5000), rng.uniform(y0, y1, 5000)
    with pg_service.client() as client:
        want = client.post(
            "/lookup/batch", json={"points": np.column_stack([lon, lat]).tolist()}
        ).json()["results"]
    failures: list[str] = []
    answered = {"lookups": 0, "tiles": 0}
    stop = threading.Event()

    def load() -> None:
        _load(pg_service.url, (lon, lat, want), stop, failures, answered)

    worker = threading.Thread(target=load)
    worker.start()
    restarted = None
    try:
        time.sleep(1.0)
        during = answered["lookups"]
        restarted = subprocess.run(
            ["pg_ctlcluster", *CLUSTER, "restart", "-m", "fast"],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert _ready(60)
        time.sleep(2.0)
    finally:
        stop.set()
        worker.join(timeout=30)
        if not _ready(1):
            subprocess.run(["pg_ctlcluster", *CLUSTER, "start"], check=False, timeout=90)
            _ready(60)
    assert restarted is not None
    assert restarted.returncode == 0, restarted.stderr
    fault_log(
        f"pg_ctlcluster {' '.join(CLUSTER)} restart -m fast under load: {answered['lookups']} "
        f"lookups and {answered['tiles']} tiles answered, {len(failures)} failed"
    )
    assert failures == []
    assert answered["lookups"] > during + 100
    # the service reconnects: its poller sees the store again, PostGIS tiles work again
    pg_service.store.close()  # this test's own connection died with the server
    assert _reconnected(pg_service, timeout_s=15) is None
    assert len(pg_service.store.versions()) >= 2


def _reconnected(service: Service, timeout_s: float) -> str | None:
    """Wait until the service's poller reaches the store again; its last error (None: ok)."""
    deadline = time.monotonic() + timeout_s
    while service.server.server.servers and time.monotonic() < deadline:
        with service.client() as client:
            versions = client.get("/versions").json()
        if versions and _live_error(service.server.server.config.loaded_app) is None:
            break
        time.sleep(0.5)
    return _live_error(service.server.server.config.loaded_app)


def _live_error(app: object) -> str | None:
    while not hasattr(app, "state"):  # unwrap uvicorn's middleware proxies
        app = app.app  # type: ignore[attr-defined]
    return app.state.wangge.live.last_error  # type: ignore[attr-defined]
