"""Time publishing the Shanghai plan and diffing two versions, in both stores.

Two plans of the real Shanghai sample (seeds 1 and 2, codes kept where grids match) are
published one after the other into a fresh GeoPackage store and a fresh PostGIS schema; then
the two versions are diffed. Run: ``.venv/bin/python bench/store_shanghai.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psycopg

import gis
from gis import columns as col
from gis.inputs.prepare import prepare_blocks
from gis.rules.codes import assign_codes
from gis.store import open_store

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/wangge_test"
SCHEMA = "bench_shanghai"


def main() -> None:
    """Print publish and diff timings per store."""
    prepared = prepare_blocks(Path(__file__).parents[1] / "data" / "shanghai_bund.gpkg")
    plans, previous = [], None
    for seed in (1, 2):
        grids = gis.partition(prepared.blockset, seed=seed).grids
        grids[col.GRID_CODE] = assign_codes(grids, scheme="stats12", previous=previous).codes
        plans.append(grids)
        previous = grids
    url = os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_URL)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    targets: dict[str, tuple[str | Path, str]] = {
        "GeoPackage": (Path(tempfile.mkdtemp()) / "plans.gpkg", "public"),
        "PostGIS": (url, SCHEMA),
    }
    print(f"{'store':<11} {'grids':>5} {'publish v1 s':>13} {'publish v2 s':>13} {'diff s':>7}")
    for name, (target, schema) in targets.items():
        with open_store(target, schema=schema) as store:
            times = []
            for grids in plans:
                started = time.perf_counter()
                store.publish(grids, author="bench", units=prepared.blockset.units)
                times.append(time.perf_counter() - started)
            old, new = (v.id for v in store.versions()[-2:])
            started = time.perf_counter()
            diff = store.diff(old, new)
            seconds = time.perf_counter() - started
        print(
            f"{name:<11} {len(plans[0]):>5} {times[0]:>13.2f} {times[1]:>13.2f} {seconds:>7.2f}"
            f"   ({diff.unchanged} grids unchanged, {diff.households_moved} households moved)"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
