"""The service's typed state: its caches, the live-index poller, and starting without the
``db`` extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from api.live import LivePoller
from api.state import Lazy, LookupCache, Memo, TileConnection
from gis.serving.lookup import LiveIndex
from gis.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]


def squares(n: int) -> gpd.GeoDataFrame:
    """n×n grids of 0.001° by the Bund."""
    rows = [
        {"grid_code": f"G{r}{c}", "kind": "ordinary", "households": 400, "parent_code": "U",
         "parent_name": "", "geometry": box(121.49 + c / 1000, 31.23 + r / 1000,
                                            121.49 + (c + 1) / 1000, 31.23 + (r + 1) / 1000)}
        for r in range(n) for c in range(n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def test_memo_keeps_the_most_recent_values() -> None:
    memo: Memo[int, str] = Memo(max_size=2)
    built: list[int] = []

    def build(key: int) -> str:
        built.append(key)
        return f"v{key}"

    assert [memo.get_or_build(k, lambda k=k: build(k)) for k in (1, 2, 1, 3)] == [
        "v1", "v2", "v1", "v3"
    ]  # fmt: skip
    assert built == [1, 2, 3]  # 1 was kept
    assert memo.get(2) is None  # the least recently used went first
    assert memo.get(1) == "v1"
    memo.clear()
    assert len(memo) == 0


def test_lazy_and_lookup_cache_invalidation() -> None:
    lazy: Lazy[list[int]] = Lazy()
    assert lazy.get_or_build(lambda: [1]) == [1]
    assert lazy.get_or_build(lambda: [2]) == [1]
    lazy.clear()
    assert lazy.get_or_build(lambda: [3]) == [3]
    cache = LookupCache(ttl_s=30)
    assert cache.expire(0.0)  # the first epoch
    cache.fragments.put((1, True, 0), b"x")
    cache.staff.get_or_build(dict)
    assert not cache.expire(29.0)
    assert cache.fragments.get((1, True, 0)) == b"x"
    cache.invalidate_version()
    assert cache.fragments.get((1, True, 0)) is None
    cache.fragments.put((1, True, 0), b"y")
    assert cache.expire(30.0)  # a new epoch drops answers and roster
    assert cache.fragments.get((1, True, 0)) is None
    assert cache.staff.get_or_build(lambda: {"G": []}) == {"G": []}


class BrokenConnection:
    closed = False

    def execute(self, query: str, params: dict) -> None:
        raise OSError("server closed the connection")

    def close(self) -> None:
        self.closed = True


def test_tile_connection_reconnects_after_a_failure() -> None:
    opened: list[BrokenConnection] = []

    def connect() -> BrokenConnection:
        opened.append(BrokenConnection())
        return opened[-1]

    tiles = TileConnection(connect)
    for _ in range(2):
        with pytest.raises(OSError, match="server closed"):
            tiles.fetchone("SELECT 1", {})
    assert len(opened) == 2
    assert all(c.closed for c in opened)


def test_the_poller_picks_up_a_version_published_elsewhere(tmp_path: Path) -> None:
    store = open_store(tmp_path / "plans.gpkg")
    store.publish(squares(2), author="t")
    live = LiveIndex(store)
    live.refresh()
    poller = LivePoller(live, interval_s=0.05)
    poller.start()
    try:
        assert poller.running
        store.publish(squares(3), author="elsewhere")
        deadline = time.monotonic() + 10
        while live.resolve() != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.index().version_id == 2
    finally:
        poller.stop()
    assert not poller.running
    assert not hasattr(live, "start")  # the library's index runs no thread of its own
    idle = LivePoller(live, interval_s=0)
    idle.start()
    assert not idle.running


SERVE_WITHOUT_DB = """
import sys
for name in ("psycopg", "sqlalchemy", "geoalchemy2", "alembic"):
    sys.modules[name] = None  # as if the db extra were not installed
import geopandas as gpd
from fastapi.testclient import TestClient
from shapely.geometry import box
from api.errors import MissingDependencyError
from api.main import create_app
from api.routes import tiles
from api.settings import Settings
from gis.store import open_store

grids = gpd.GeoDataFrame(
    {"grid_code": ["A", "B"], "kind": "ordinary", "households": [100, 500],
     "parent_code": "U", "parent_name": ""},
    geometry=[box(121.49, 31.23, 121.491, 31.231), box(121.491, 31.23, 121.492, 31.231)],
    crs="EPSG:4326",
)
path = sys.argv[1]
with open_store(path) as store:
    store.publish(grids, author="t")
with TestClient(create_app(Settings(store_path=path))) as client:
    hit = client.get("/lookup", params={"lon": 121.4905, "lat": 31.2305})
    assert hit.status_code == 200, hit.text
    assert hit.json()["grid"]["load"] == "under"
    tile = client.get("/tiles/1/15/27441/13365.mvt")
    assert tile.status_code == 200, tile.text
try:
    tiles._psycopg_error()
except MissingDependencyError as exc:
    print(exc)
assert "psycopg" not in sys.modules or sys.modules["psycopg"] is None
"""


def test_the_service_starts_on_the_embedded_store_without_the_db_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SERVE_WITHOUT_DB), str(tmp_path / "p.gpkg")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'wangge[db]'" in done.stdout
