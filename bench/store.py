"""Time publishing a plan and diffing two versions, in both stores.

SYNTHETIC data: a square "town" near 121.5°E 31.23°N cut into ``--grids`` square-ish grids
with jittered shared vertices (so edges are not axis-aligned), in 4 communities (units); the
second version moves every internal vertex a little, so every grid changes geometry and
households move between neighbours.

Usage::

    .venv/bin/python bench/store.py [--grids 200] [--repeat 3] [--database-url URL]

The PostGIS run uses a throwaway schema in ``--database-url`` (default
``WANGGE_TEST_DATABASE_URL`` or the test database) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
from shapely.geometry import Polygon, box

from gis import columns as col
from gis.store import Store, open_store

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/wangge_test"
X0, Y0, CELL = 350_000.0, 3_450_000.0, 120.0


def synthetic_plan(
    n_grids: int, *, seed: int, prefix: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A jittered ``side × side`` lattice of grids and the 4 units (quadrants) they tile."""
    side = math.ceil(math.sqrt(n_grids))
    side += side % 2
    rng = np.random.default_rng(seed)
    xs = X0 + CELL * np.arange(side + 1)
    ys = Y0 + CELL * np.arange(side + 1)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    inner = np.zeros_like(gx, dtype=bool)
    inner[1:-1, 1:-1] = True
    gx = gx + np.where(inner, rng.uniform(-30, 30, gx.shape), 0)
    gy = gy + np.where(inner, rng.uniform(-30, 30, gy.shape), 0)
    half = side // 2
    rows = []
    for i in range(side):
        for j in range(side):
            ring = [
                (gx[i, j], gy[i, j]),
                (gx[i + 1, j], gy[i + 1, j]),
                (gx[i + 1, j + 1], gy[i + 1, j + 1]),
                (gx[i, j + 1], gy[i, j + 1]),
            ]
            unit = f"U{int(i >= half)}{int(j >= half)}"
            rows.append(
                {
                    col.GRID_CODE: f"{unit}-{prefix}{i:02d}{j:02d}",
                    col.KIND: "ordinary",
                    col.HOUSEHOLDS: int(rng.integers(300, 800)),
                    col.PARENT_CODE: unit,
                    col.PARENT_NAME: f"synthetic community {unit}",
                    "geometry": Polygon(ring),
                }
            )
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:32651")
    units = gpd.GeoDataFrame(
        {
            col.UNIT_CODE: [f"U{a}{b}" for a in (0, 1) for b in (0, 1)],
            col.UNIT_NAME: ["synthetic"] * 4,
        },
        geometry=[
            box(
                X0 + a * half * CELL,
                Y0 + b * half * CELL,
                X0 + (a + 1) * half * CELL,
                Y0 + (b + 1) * half * CELL,
            )
            for a in (0, 1)
            for b in (0, 1)
        ],
        crs="EPSG:32651",
    )
    return grids, units


def bench(store: Store, n_grids: int, repeat: int) -> dict[str, float]:
    """Median seconds to publish a plan (with coverage check) and to diff two versions."""
    publish, diff = [], []
    for k in range(repeat):
        a, units = synthetic_plan(n_grids, seed=2 * k, prefix="")
        b, _ = synthetic_plan(n_grids, seed=2 * k + 1, prefix="")
        started = time.perf_counter()
        va = store.publish(a, author="bench", note="synthetic", units=units)
        publish.append(time.perf_counter() - started)
        started = time.perf_counter()
        vb = store.publish(b, author="bench", note="synthetic", units=units)
        publish.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = store.diff(va.id, vb.id)
        diff.append(time.perf_counter() - started)
        assert len(result.changed) == len(a)
    return {
        "grids": float(len(a)),
        "publish_s": statistics.median(publish),
        "diff_s": statistics.median(diff),
    }


def main() -> None:
    """Run the benchmark and print one line per store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-url", default=os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_URL)
    )
    args = parser.parse_args()
    print(f"SYNTHETIC plan, ~{args.grids} grids, 4 units; median of {args.repeat} runs")
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(Path(tmp) / "bench.gpkg") as gpkg:
            r = bench(gpkg, args.grids, args.repeat)
        print(
            f"geopackage: {r['grids']:.0f} grids  publish {r['publish_s']:.3f} s  "
            f"diff {r['diff_s']:.3f} s"
        )
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with open_store(args.database_url, schema=schema) as pg:
            r = bench(pg, args.grids, args.repeat)
        print(
            f"postgis:    {r['grids']:.0f} grids  publish {r['publish_s']:.3f} s  "
            f"diff {r['diff_s']:.3f} s"
        )
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
