"""Benchmark address → grid on a SYNTHETIC city-scale standard-address table, on both stores.

The table is SYNTHETIC (:mod:`gis.serving.addresses.synthetic`): real Shanghai district and
street-office names, roads and compounds named the way cities name them, buildings, units,
floors and rooms, street doors and villages. Nothing in it is a real address.

Prints, per store (GeoPackage's SQLite registry; PostGIS in a throwaway schema):

* index build: parsing every row into its keys, then loading and indexing (one transaction),
  and the size of the table with its indexes;
* single lookups (``AddressMatcher.lookup``, one query at a time, realistic query forms):
  latency p50 / p99;
* a batch (``lookup_table``: about ``--batch`` distinct queries, of other addresses than the
  labelled set's, every one answered and located in a grid index): addresses/s;
* accuracy on the labelled queries: top-1 and the share of wrong answers said exact/probable.

Usage::

    .venv/bin/python bench/addresses.py [--rows 5000000] [--stores gpkg,postgis]
        [--lookups 2000] [--batch 20000] [--queries 2000]
        [--url postgresql://postgres@127.0.0.1:5432/wangge_test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from shapely.geometry import box

from gis.serving.addresses import AddressMatcher, address_keys, read_address_table
from gis.serving.addresses.grid import lookup_table
from gis.serving.addresses.synthetic import labelled_queries, score_answers, synthetic_table
from gis.serving.lookup import GridIndex
from gis.store import open_store
from gis.store.addresses import Registry, open_registry

BOX = (121.30, 31.10, 121.65, 31.40)


def grid_index(step: float = 0.01) -> GridIndex:
    """SYNTHETIC grids: squares of ``step`` degrees over the table's box."""
    x0, y0, x1, y1 = BOX
    xs, ys = np.arange(x0, x1, step), np.arange(y0, y1, step)
    cells = [box(x, y, x + step, y + step) for y in ys for x in xs]
    codes = [f"SYN{i:06d}" for i in range(len(cells))]
    return GridIndex(gpd.GeoDataFrame({"grid_code": codes}, geometry=cells, crs="EPSG:4326"))


def _size_pg(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname IN ('addresses', 'address_names') ",
            (schema,),
        ).fetchone()
    return int(found[0] or 0) if found else 0


def measure(
    registry: Registry, table: pd.DataFrame, keys: pd.DataFrame, queries: list[str],
    labelled: list[Any], batch_queries: list[str], args: argparse.Namespace,
) -> dict[str, float]:  # fmt: skip
    """Index build, single lookups, a batch and the accuracy on one registry."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    registry.import_addresses(table, keys, replace=True)
    out["load_index_s"] = time.perf_counter() - started
    rng = np.random.default_rng(3)
    single = [queries[i] for i in rng.integers(0, len(queries), args.lookups)]
    matcher = AddressMatcher(registry)
    times = []
    for q in single:
        t0 = time.perf_counter()
        matcher.lookup(q)
        times.append(time.perf_counter() - t0)
    out["p50_ms"] = 1000 * statistics.median(times)
    out["p99_ms"] = 1000 * float(np.percentile(times, 99))
    batch = batch_queries
    index = grid_index()
    t0 = time.perf_counter()
    answers = lookup_table(AddressMatcher(registry), batch, index)
    out["batch_per_s"] = len(batch) / (time.perf_counter() - t0)
    out["batch_answered"] = float((answers["match"] != "none").mean())
    results = AddressMatcher(registry).lookup_many([x.query for x in labelled])
    scored = score_answers(
        labelled, [(r.match, [str(c.row["address"]) for c in r.answer]) for r in results]
    )
    out.update(scored)
    return out


def _table(rows: int) -> pd.DataFrame:
    t0 = time.perf_counter()
    raw = synthetic_table(rows, seed=1, box=BOX)
    print(f"SYNTHETIC table: {len(raw):,} standard addresses ({time.perf_counter() - t0:.0f} s)")
    return raw


def _queries(raw: pd.DataFrame, args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """The labelled set, and the batch: other addresses than the labelled set's, each query
    distinct."""
    labelled = labelled_queries(raw, args.queries, seed=2)
    print(f"labelled queries: {len(labelled):,}")
    batch = list(dict.fromkeys(x.query for x in labelled_queries(raw, args.batch, seed=4)))
    print(f"batch: {len(batch):,} distinct queries")
    return labelled, batch


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--stores", default="gpkg,postgis")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2000)
    default_url = "postgresql://postgres@127.0.0.1:5432/wangge_test"
    parser.add_argument("--url", default=os.environ.get("WANGGE_TEST_DATABASE_URL", default_url))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    raw = _table(args.rows)
    table = read_address_table(raw)
    t0 = time.perf_counter()
    keys = address_keys(table)
    parse_s = time.perf_counter() - t0
    print(f"parsed into index keys in {parse_s:.0f} s ({len(table) / parse_s:,.0f} rows/s)")
    labelled, batch_queries = _queries(raw, args)
    queries = [x.query for x in labelled]
    rows = []
    for kind in args.stores.split(","):
        work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-addresses-"))
        schema = f"bench_addr_{uuid.uuid4().hex[:8]}"
        if kind == "gpkg":
            target = str(work / "plans.gpkg")
        else:
            target = args.url
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            open_store(args.url, schema=schema).close()
        registry = open_registry(target, schema=schema if kind != "gpkg" else "public")
        try:
            result = measure(registry, table, keys, queries, labelled, batch_queries, args)
            if kind == "gpkg":
                result["size_mb"] = (work / "plans.registry.sqlite").stat().st_size / 2**20
            else:
                result["size_mb"] = _size_pg(args.url, schema) / 2**20
        finally:
            registry.close()
            if kind != "gpkg":
                with psycopg.connect(args.url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
        result["index_build_s"] = parse_s + result["load_index_s"]
        rows.append({"store": kind, **result})
        print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False), flush=True)
    print()
    print(f"rows={len(table):,} (SYNTHETIC)")
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
