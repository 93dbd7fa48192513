"""Benchmark the service: single lookups over HTTP, a 1,000,000-point batch, vector tiles.

SYNTHETIC plan (``bench/store.py``'s jittered lattice, ``--grids`` grids near 121.5°E
31.23°N) published into a throwaway PostGIS schema; the service runs under uvicorn in a
separate process on a loopback port (``--workers``), and the load comes from this process.

Prints, in one run:

* single ``GET /lookup``: latency p50 / p99 (one keep-alive connection, sequential) and
  throughput (``--clients`` concurrent keep-alive connections in ``--procs`` processes);
* a ``--points`` batch end-to-end (Parquet upload → Parquet answer, and JSON → JSON) beside
  the same batch as a PostGIS ``unnest`` join (:data:`gis.serving.lookup.BATCH_SQL`), and the
  in-process index alone;
* tile latency p50 / p99 at z12–z15 (PostGIS ``ST_AsMVT``);
* single ``GET /lookup`` latency p50 / p99 / max alone, and while a ``--batch-points``
  (2,000,000) JSON batch is sent, answered and read back by another process: a batch is
  parsed and located off the event loop (``api.batch``), so the figures should not move.
  ``--compare`` repeats it with large batches kept in a worker *thread*
  (``WANGGE_BATCH_PROCESS_BYTES=0``), which shares the GIL with the event loop.

Usage::

    .venv/bin/python bench/lookup.py [--grids 2000] [--points 1000000] [--seconds 5]
    .venv/bin/python bench/lookup.py --only-during-batch [--batch-points 2000000] [--compare]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from store import synthetic_plan

from api.server import free_port
from gis.serving.lookup import GridIndex, locate_sql
from gis.store import open_store

DEFAULT_URL = os.environ.get(
    "WANGGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/wangge_test"
)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of ``values``."""
    return float(np.percentile(np.asarray(values), q))


def start_server(
    url: str, schema: str, port: int, workers: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn in a child process; returns when /versions answers."""
    env = {
        **os.environ,
        "WANGGE_DATABASE_URL": url,
        "WANGGE_DB_SCHEMA": schema,
        "WANGGE_MAX_UPLOAD_BYTES": str(512 * 2**20),
        "WANGGE_POLL_INTERVAL_S": "5",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/versions")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def latency(
    port: int,
    lon: np.ndarray,
    lat: np.ndarray,
    seconds: float,
    until: Any = None,
) -> list[float]:
    """Sequential lookups on one keep-alive connection; per-request seconds. They run for
    ``seconds``, or while ``until()`` is false when it is given."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    end = time.monotonic() + seconds

    def more() -> bool:
        return time.monotonic() < end if until is None else not until()

    i = 0
    while more():
        path = f"/lookup?lon={lon[i % len(lon)]}&lat={lat[i % len(lat)]}"
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        times.append(time.perf_counter() - t)
        assert r.status in (200, 404)
        i += 1
    conn.close()
    return times


async def _client(port: int, paths: list[str], end: float) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = failed = 0
    i = 0
    while time.monotonic() < end:
        writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        status = int(head.split(b" ", 2)[1])
        done += 1
        failed += status not in (200, 404)
        i += 1
    writer.close()
    return done, failed


def _load(args: tuple[int, list[str], int, float]) -> tuple[int, int]:
    port, paths, clients, end = args

    async def run() -> list[tuple[int, int]]:
        return await asyncio.gather(
            *(_client(port, paths[k::clients], end) for k in range(clients))
        )

    results = asyncio.run(run())
    return sum(r[0] for r in results), sum(r[1] for r in results)


def throughput(
    port: int, lon: np.ndarray, lat: np.ndarray, seconds: float, procs: int, clients: int
) -> tuple[float, int]:
    """Requests per second with ``procs`` × ``clients`` keep-alive connections."""
    paths = [f"/lookup?lon={x}&lat={y}" for x, y in zip(lon[:20000], lat[:20000], strict=True)]
    end = time.monotonic() + 0.5 + seconds
    start = time.monotonic() + 0.5
    with mp.get_context("fork").Pool(procs) as pool:
        results = pool.map(_load, [(port, paths[k::procs], clients, end) for k in range(procs)])
    elapsed = time.monotonic() - start + 0.5
    done = sum(r[0] for r in results)
    return done / elapsed, sum(r[1] for r in results)


def post(port: int, path: str, body: bytes, ctype: str) -> tuple[float, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, data[:300]
    return time.perf_counter() - t, data


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (
        int((lon + 180) / 360 * n),
        int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n),
    )


Rows = list[tuple[str, str]]


def single_lookups(port: int, lon: np.ndarray, lat: np.ndarray, args: argparse.Namespace) -> Rows:
    """Latency on one connection, then throughput on many."""
    latency(port, lon, lat, 1.0)  # warm up
    times = latency(port, lon, lat, args.seconds)
    rps, failed = throughput(port, lon, lat, args.seconds, args.procs, args.clients)
    return [
        (
            "GET /lookup latency p50 / p99 (1 connection)",
            f"{1000 * pct(times, 50):.2f} ms / {1000 * pct(times, 99):.2f} ms (n={len(times)})",
        ),
        (
            f"GET /lookup throughput ({args.procs}×{args.clients} connections)",
            f"{rps:,.0f} requests/s, {failed} failed",
        ),
    ]


def batches(
    port: int, lon: np.ndarray, lat: np.ndarray, points: int
) -> tuple[Rows, pd.DataFrame, float]:
    """The batch end-to-end as Parquet and as JSON; also the Parquet answer and its time."""
    table = pd.DataFrame({"lon": lon, "lat": lat})
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    t_parquet, data = post(
        port,
        "/lookup/batch?format=parquet",
        buffer.getvalue(),
        "application/vnd.apache.parquet",
    )
    t = time.perf_counter()
    answer = pd.read_parquet(io.BytesIO(data))
    t_parquet += time.perf_counter() - t
    t = time.perf_counter()
    body = orjson.dumps(
        {"crs": "wgs84", "points": np.column_stack([lon, lat])},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    t_json, data = post(port, "/lookup/batch", body, "application/json")
    orjson.loads(data)
    t_json += time.perf_counter() - t
    rows = [
        (f"batch {points:,} points, Parquet → Parquet (end-to-end)", f"{t_parquet:.2f} s"),
        (
            f"batch {points:,} points, JSON → JSON (client: orjson encode/decode)",
            f"{t_json:.2f} s",
        ),
    ]
    return rows, answer, t_parquet


def in_process(stored: Any, info: Any, lon: np.ndarray, lat: np.ndarray) -> Rows:
    """The lookup index alone: build it, locate every point."""
    t = time.perf_counter()
    index = GridIndex(stored, version=info)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    index.locate(lon, lat)
    return [
        (
            "in-process index: build / locate all points",
            f"{t_build:.2f} s / {time.perf_counter() - t:.2f} s",
        )
    ]


def in_postgis(
    url: str,
    schema: str,
    version_id: int,
    points: tuple[np.ndarray, np.ndarray],
    answer: pd.DataFrame,
    t_service: float,
) -> Rows:
    """The same batch as a PostGIS join, and whether its answers match the service's."""
    lon, lat = points
    options = f"-c search_path={schema},public"
    with psycopg.connect(url, options=options) as conn:
        t = time.perf_counter()
        sql_codes = locate_sql(conn, version_id, lon, lat)
        t_sql = time.perf_counter() - t
    agree = np.array_equal(
        answer["grid_code"].fillna("").to_numpy(),
        np.array([c or "" for c in sql_codes], dtype=object),
    )
    return [
        (
            "same batch as a PostGIS unnest join",
            f"{t_sql:.2f} s "
            f"(service is {t_sql / t_service:.1f}× faster; answers identical: {agree})",
        )
    ]


def tiles(port: int, version_id: int, bounds: tuple[float, float, float, float]) -> Rows:
    """Tile latency at z12–z15: the first round cold, two more from the cache."""
    x0, y0, x1, y1 = bounds
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rows: Rows = []
    for z in (12, 13, 14, 15):
        tx0, ty1 = tile_xy(x0, y0, z)
        tx1, ty0 = tile_xy(x1, y1, z)
        xys = [(x, y) for x in range(tx0, tx1 + 1) for y in range(ty0, ty1 + 1)][:200]
        cold: list[float] = []
        warm: list[float] = []
        sizes: list[int] = []
        for attempt in range(3):
            for x, y in xys:
                t = time.perf_counter()
                conn.request("GET", f"/tiles/{version_id}/{z}/{x}/{y}.mvt")
                r = conn.getresponse()
                sizes.append(len(r.read()))
                (cold if attempt == 0 else warm).append(time.perf_counter() - t)
        rows.append(
            (
                f"tile z{z} ({len(xys)} tiles, ST_AsMVT; then cached)",
                f"cold p50 {1000 * pct(cold, 50):.1f} ms, p99 {1000 * pct(cold, 99):.1f}"
                f" ms; cached p50 {1000 * pct(warm, 50):.2f} ms; "
                f"mean {statistics.mean(sizes) / 1024:.0f} KiB",
            )
        )
    return rows


def _send_batch(port: int, body: bytes, results: Any) -> None:
    """In a child process: POST one JSON batch and read the whole answer back."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/lookup/batch", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    size = len(r.read())
    results.put((r.status, time.perf_counter() - t, size))


def _figures(times: list[float]) -> str:
    return (
        f"p50 {1000 * pct(times, 50):.2f} ms / p99 {1000 * pct(times, 99):.2f} ms / "
        f"max {1000 * max(times):.1f} ms (n={len(times)})"
    )


def during_batch(
    port: int, bounds: tuple[float, float, float, float], points: int, seconds: float, label: str
) -> Rows:
    """Single-lookup latency alone, then while another process sends a ``points`` batch."""
    x0, y0, x1, y1 = bounds
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(x0, x1, 20_000), rng.uniform(y0, y1, 20_000)
    batch = np.column_stack([rng.uniform(x0, x1, points), rng.uniform(y0, y1, points)])
    body = orjson.dumps({"crs": "wgs84", "points": batch}, option=orjson.OPT_SERIALIZE_NUMPY)
    latency(port, lon, lat, 1.0)  # warm up
    alone = latency(port, lon, lat, seconds)
    context = mp.get_context("fork")
    results = context.Queue()
    sender = context.Process(target=_send_batch, args=(port, body, results))
    sender.start()
    during = latency(port, lon, lat, 0, until=lambda: not sender.is_alive())
    status, took, size = results.get(timeout=60)
    sender.join()
    assert status == 200, status
    return [
        (f"GET /lookup alone ({label})", _figures(alone)),
        (
            f"GET /lookup while a {points:,}-point JSON batch ({len(body) / 2**20:.0f} MiB) "
            f"runs ({label}; batch {took:.1f} s end-to-end, answer {size / 2**20:.0f} MiB)",
            _figures(during),
        ),
    ]


def print_table(rows: Rows) -> None:
    """The measures as a Markdown table."""
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch-points", type=int, default=2_000_000)
    parser.add_argument(
        "--only-during-batch", action="store_true", help="Only lookups alone / during a batch"
    )
    parser.add_argument(
        "--compare", action="store_true", help="Also with large batches in a worker thread"
    )
    return parser.parse_args()


def measure(args: argparse.Namespace, schema: str, servers: list[Any]) -> Rows:
    """Publish the synthetic plan, start the service(s) and take every measure."""
    grids, units = synthetic_plan(args.grids, seed=1, prefix="")
    with open_store(args.database_url, schema=schema) as store:
        info = store.publish(grids, author="bench", units=units)
        stored = store.read_grids()
    x0, y0, x1, y1 = (float(v) for v in stored.total_bounds)
    bounds = (x0, y0, x1, y1)
    rng = np.random.default_rng(0)
    lon = rng.uniform(x0, x1, args.points)
    lat = rng.uniform(y0, y1, args.points)
    port = free_port()
    servers.append(start_server(args.database_url, schema, port, args.workers))
    print(
        f"plan: {len(stored)} grids (synthetic), PostGIS schema {schema}; "
        f"uvicorn workers={args.workers}, {os.cpu_count()} CPUs"
    )
    rows = during_batch(port, bounds, args.batch_points, args.seconds, "worker process")
    if not args.only_during_batch:
        rows += single_lookups(port, lon, lat, args)
        batch_rows, answer, t_parquet = batches(port, lon, lat, args.points)
        rows += batch_rows
        rows += in_process(stored, info, lon, lat)
        rows += in_postgis(args.database_url, schema, info.id, (lon, lat), answer, t_parquet)
        rows += tiles(port, info.id, bounds)
    if args.compare:  # the same with every batch in a worker thread, sharing the loop's GIL
        port = free_port()
        env = {"WANGGE_BATCH_PROCESS_BYTES": "0"}
        servers.append(start_server(args.database_url, schema, port, args.workers, env))
        rows += during_batch(port, bounds, args.batch_points, args.seconds, "worker thread")
    return rows


def main() -> None:
    args = parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    servers: list[Any] = []
    rows: Rows = []
    try:
        rows = measure(args, schema, servers)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=20)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print_table(rows)


if __name__ == "__main__":
    main()
