"""Benchmark: city scale on Dask — a whole SYNTHETIC city planned serially and on 2 workers,
and 100 million SYNTHETIC points assigned to its grids.

In one run, each step in its own subprocess (so every peak RSS is that step's own):

1. ``city``: a SYNTHETIC city (:func:`gis.datasets.voronoi_city`) of ``--households``
   households in ``--units`` administrative units, pickled for the next steps;
2. ``serial``: :func:`gis.partition` in one process — wall time, peak RSS, CPU seconds;
3. ``parallel``: the same on a :class:`distributed.LocalCluster` of ``--workers`` worker
   processes — wall time, speed-up, peak RSS of each worker and of the client; the plan must be
   the serial plan (compared grid by grid); it is then published into a GeoPackage store.
   With ``--repeat N`` the two run in turn N times and the table gives the median of each
   and every pair's speed-up: on a shared 2-core virtual machine one run's wall time varies by
   a third with what the host does (seen: 2 workers took 20.4 to 28.1 s on the same plan);
   ``ceiling``: what this machine allows at best — the units' planning alone (no reading,
   dissolving, checks or Dask), split between ``--workers`` plain processes that each load the
   city and plan their share (largest units first, to the least loaded), started together;
4. ``points``: ``--points`` SYNTHETIC points (uniform over the city's extent, a few outside) as
   Parquet files of one million rows, written by the workers;
5. ``assign``: :func:`gis.assign_points` on ``--workers`` workers — wall time, points/s, peak
   RSS per worker;
6. ``strtree``: the plain baseline — one process, a shapely ``STRtree`` of the grids, points
   queried in chunks of one million (``--strtree-points`` of them; first covering grid, no
   boundary rule);
7. ``postgis``: a PostGIS join (the service's boundary rule in SQL) on a ``--sample`` of the
   points, against the test database (``WANGGE_TEST_DATABASE_URL``); its answers are compared
   with assign's.

Usage::

    python bench/scale.py                                   # the full run (about an hour)
    python bench/scale.py --households 100000 --units 20 --points 2000000 --files 4
    python bench/scale.py --json bench/out/scale.json
    python bench/scale.py --work /tmp/scale --steps serial,parallel   # re-run two steps
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/wangge_test"
STEPS = ("city", "serial", "parallel", "ceiling", "points", "assign", "strtree", "postgis")


def _rss_mb() -> float:
    """Peak resident set size of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _worker_stats() -> dict[str, float]:
    """Run on each worker: its peak RSS (MB) and CPU seconds since it started."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss_mb": use.ru_maxrss / 1024, "cpu_s": use.ru_utime + use.ru_stime}


def step_city(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import pickle  # noqa: PLC0415

    from gis.datasets import voronoi_city  # noqa: PLC0415

    started = time.perf_counter()
    city = voronoi_city(
        args.households // 50,
        households=args.households,
        n_units=args.units,
        n_compounds=max(1, args.households // 25_000),
        rng=args.seed,
    )
    seconds = time.perf_counter() - started
    (work / "city.pkl").write_bytes(pickle.dumps(city))
    blocks = city.blocks
    return {
        "blocks": len(blocks),
        "households": int(blocks["households"].sum()),
        "units": int(blocks["unit_code"].nunique()),
        "buildings": len(city.buildings),
        "seconds": seconds,
    }


def _load_city(work: Path) -> Any:
    import pickle  # noqa: PLC0415

    return pickle.loads((work / "city.pkl").read_bytes())


def step_serial(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import gis  # noqa: PLC0415

    city = _load_city(work)
    cpu = _cpu_s()
    started = time.perf_counter()
    plan = gis.partition(city, seed=args.seed)
    wall = time.perf_counter() - started
    plan.grids.to_parquet(work / "serial.parquet")
    return {
        "wall_s": wall,
        "cpu_s": _cpu_s() - cpu,
        "rss_mb": _rss_mb(),
        "grids": len(plan.grids),
        "load": os.getloadavg()[0],
        "seconds": plan.report.sections["seconds"],
    }


def step_parallel(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import gis  # noqa: PLC0415
    from gis.parallel import connect  # noqa: PLC0415

    city = _load_city(work)
    t0 = time.perf_counter()
    with connect(workers=args.workers) as client:
        assert client is not None
        startup = time.perf_counter() - t0
        started = time.perf_counter()
        plan = gis.partition(city, seed=args.seed, client=client)
        wall = time.perf_counter() - started
        workers = client.run(_worker_stats)
    plan.grids.to_parquet(work / "parallel.parquet")
    t1 = time.perf_counter()
    with gis.open_store(work / "store.gpkg") as store:
        store.publish(plan.grids, author="bench/scale.py", note="SYNTHETIC city", band=plan.band)
    return {
        "wall_s": wall,
        "startup_s": startup,
        "publish_s": time.perf_counter() - t1,
        "workers": sorted(workers.values(), key=lambda w: w["rss_mb"]),
        "client_rss_mb": _rss_mb(),
        "grids": len(plan.grids),
        "load": os.getloadavg()[0],
        "seconds": plan.report.sections["seconds"],
    }


def _plan_share(work: Path, units: list[Any], seed: int, start: Any, out: Any) -> None:
    """Run in a plain process: plan ``units`` of the pickled city, timed from ``start``."""
    from gis.options import Band  # noqa: PLC0415
    from gis.search.partition import plan_unit  # noqa: PLC0415
    from gis.search.units import UnitSplitter, unit_seeds  # noqa: PLC0415

    city = _load_city(work)
    split = UnitSplitter(city)
    seeds = unit_seeds(split.units, seed)
    works = [split.work(u, seeds[u]) for u in units]
    start.wait()
    t = time.perf_counter()
    for w in works:
        plan_unit(w, Band())
    out.put(time.perf_counter() - t)


def step_ceiling(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import multiprocessing  # noqa: PLC0415

    from gis.search.units import UnitSplitter  # noqa: PLC0415

    households = UnitSplitter(_load_city(work)).households
    shares: list[list[Any]] = [[] for _ in range(args.workers)]
    held = [0] * args.workers
    for unit in sorted(households, key=lambda u: -households[u]):
        i = held.index(min(held))
        shares[i].append(unit)
        held[i] += households[unit]
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(args.workers), ctx.Queue()
    procs = [
        ctx.Process(target=_plan_share, args=(work, share, args.seed, start, out))
        for share in shares
    ]
    for proc in procs:
        proc.start()
    walls = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return {"wall_s": max(walls), "walls": walls}


def _write_points(path: str, n: int, seed: int, bounds: list[float]) -> int:
    """Run on a worker: ``n`` uniform SYNTHETIC points (with an id) as one Parquet file."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    pad = 0.002  # a few points outside every grid
    table = pa.table(
        {
            "id": np.arange(n, dtype=np.int64) + seed * n,
            "lon": rng.uniform(x0 - pad, x1 + pad, n),
            "lat": rng.uniform(y0 - pad, y1 + pad, n),
        }
    )
    pq.write_table(table, path, row_group_size=n)
    return n


def _grid_bounds(work: Path) -> list[float]:
    import geopandas as gpd  # noqa: PLC0415

    grids = gpd.read_parquet(work / "parallel.parquet").to_crs(4326)
    return [float(v) for v in grids.total_bounds]


def step_points(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from gis.parallel import connect  # noqa: PLC0415

    folder = work / "points"
    folder.mkdir(exist_ok=True)
    bounds = _grid_bounds(work)
    per_file = args.points // args.files
    started = time.perf_counter()
    with connect(workers=args.workers) as client:
        assert client is not None
        futures = [
            client.submit(_write_points, str(folder / f"points-{i:04d}.parquet"), per_file, i,
                          bounds, pure=False)
            for i in range(args.files)
        ]  # fmt: skip
        rows = sum(client.gather(futures))
    size = sum(p.stat().st_size for p in folder.iterdir())
    seconds = time.perf_counter() - started
    return {"rows": rows, "files": args.files, "bytes": size, "seconds": seconds}


def step_assign(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import gis  # noqa: PLC0415
    from gis.parallel import connect  # noqa: PLC0415

    with connect(workers=args.workers) as client:
        assert client is not None
        started = time.perf_counter()
        result = gis.assign_points(
            work / "points", store=work / "store.gpkg", out=work / "assigned", client=client
        )
        wall = time.perf_counter() - started
        workers = client.run(_worker_stats)
    size = sum(p.stat().st_size for p in (work / "assigned").iterdir())
    return {
        "wall_s": wall,
        "rows": result.rows,
        "in_grids": result.in_grids,
        "parts": result.parts,
        "points_per_s": result.rows / wall,
        "workers": sorted(workers.values(), key=lambda w: w["rss_mb"]),
        "client_rss_mb": _rss_mb(),
        "out_bytes": size,
        "load": os.getloadavg()[0],
    }


def step_strtree(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import geopandas as gpd  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    grids = gpd.read_parquet(work / "parallel.parquet").to_crs(4326)
    geoms = grids.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    files = sorted((work / "points").iterdir())
    done, query_s, inside = 0, 0.0, 0
    for path in files:
        if done >= args.strtree_points:
            break
        table = pq.read_table(path, columns=["lon", "lat"])
        lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
        for start in range(0, len(lon), 1_000_000):
            t = time.perf_counter()
            pts = shapely.points(lon[start : start + 1_000_000], lat[start : start + 1_000_000])
            pi, gi = tree.query(pts, predicate="intersects")
            first = np.full(len(pts), -1)
            first[pi[::-1]] = gi[::-1]  # the first covering grid of each point
            query_s += time.perf_counter() - t
            inside += int((first >= 0).sum())
            done += len(pts)
    return {
        "rows": done,
        "wall_s": query_s,
        "points_per_s": done / query_s,
        "in_grids": inside,
        "rss_mb": _rss_mb(),
    }


def step_postgis(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415
    import psycopg  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    import gis  # noqa: PLC0415
    from gis.store.plan import NUDGE  # noqa: PLC0415

    url = os.environ.get("WANGGE_TEST_DATABASE_URL", DEFAULT_DB)
    with gis.open_store(work / "store.gpkg") as store:
        grids = store.read_grids()  # what assign (and the service) locate in
    first = sorted((work / "assigned").glob("part-*.parquet"))[0]
    sample = pd.read_parquet(first, columns=["id", "lon", "lat", "grid_code"]).iloc[: args.sample]
    schema = f"bench_scale_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            return _postgis_join(conn, schema, grids, sample, NUDGE, shapely)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _postgis_join(
    conn: Any, schema: str, grids: Any, sample: Any, nudge: tuple[float, float], shapely: Any
) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415

    t = time.perf_counter()
    conn.execute(f"CREATE TABLE {schema}.grids (grid_code text, geom geometry(Geometry, 4326))")
    ewkb = shapely.to_wkb(  # exact coordinates (WKT would round them)
        shapely.set_srid(grids.geometry.to_numpy(), 4326), hex=True, include_srid=True
    )
    with conn.cursor().copy(f"COPY {schema}.grids (grid_code, geom) FROM STDIN") as copy:
        for code, hexed in zip(grids["grid_code"], ewkb, strict=True):
            copy.write_row((code, hexed))
    conn.execute(f"CREATE INDEX ON {schema}.grids USING gist (geom)")
    conn.execute(f"CREATE TABLE {schema}.pts (id bigint, x float8, y float8)")
    with conn.cursor().copy(f"COPY {schema}.pts (id, x, y) FROM STDIN") as copy:
        for row in zip(sample["id"].tolist(), sample["lon"].tolist(), sample["lat"].tolist(),
                       strict=True):  # fmt: skip
            copy.write_row(row)
    conn.execute(f"ANALYZE {schema}.grids")
    conn.execute(f"ANALYZE {schema}.pts")
    load = time.perf_counter() - t
    t = time.perf_counter()
    rows = conn.execute(
        f"""SELECT p.id, (SELECT g.grid_code FROM {schema}.grids g
                WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
                ORDER BY ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(p.x + %s, p.y + %s), 4326))
                         DESC, g.grid_code
                LIMIT 1)
            FROM {schema}.pts p ORDER BY p.id""",
        nudge,
    ).fetchall()
    query = time.perf_counter() - t
    got = {int(i): c for i, c in rows}
    assigned = dict(zip(sample["id"].astype(int), sample["grid_code"], strict=True))
    agree = sum(
        (got[i] is None and pd.isna(c)) or (not pd.isna(c) and got[i] == c)
        for i, c in assigned.items()
    )
    return {
        "rows": len(rows),
        "load_s": load,
        "wall_s": query,
        "points_per_s": len(rows) / query,
        "agree_with_assign": agree,
    }


def _run_pairs(argv: list[str], work: Path, args: argparse.Namespace) -> None:
    """Serial and parallel in turn ``--repeat`` times; each step's file then holds its median
    run, with every run's wall time (``runs``) and the pairs' speed-ups (``speedups``)."""
    runs: dict[str, list[dict[str, Any]]] = {"serial": [], "parallel": []}
    for _ in range(args.repeat):
        for step, found in runs.items():
            found.append(_run_step(step, argv, work, args.timeout))
    speedups = [
        s["wall_s"] / p["wall_s"] for s, p in zip(runs["serial"], runs["parallel"], strict=True)
    ]
    for step, found in runs.items():
        walls = [r["wall_s"] for r in found]
        median = sorted(found, key=lambda r: r["wall_s"])[len(found) // 2]
        summary = {**median, "runs": walls, "speedups": speedups}
        (work / f"{step}.json").write_text(json.dumps(summary, indent=2))


def _run_step(step: str, argv: list[str], work: Path, timeout: float) -> dict[str, Any]:
    out = work / f"{step}.json"
    cmd = [sys.executable, __file__, *argv, "--step", step, "--work", str(work)]
    print(f"… {step}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, timeout=timeout)
    return json.loads(out.read_text())


def _same_plans(work: Path) -> dict[str, Any]:
    import geopandas as gpd  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    a = gpd.read_parquet(work / "serial.parquet")
    b = gpd.read_parquet(work / "parallel.parquet")
    same_rows = len(a) == len(b)
    columns = same_rows and a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    geometry = same_rows and bool(
        shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(), tolerance=0).all()
    )
    return {"grids": len(a), "identical": bool(columns and geometry)}


def _table(r: dict[str, Any], args: argparse.Namespace) -> str:
    city, ser, par = r["city"], r["serial"], r["parallel"]
    asg, tree, pg, top = r["assign"], r["strtree"], r["postgis"], r["ceiling"]
    w_par = " / ".join(f"{w['rss_mb']:.0f}" for w in par["workers"])
    w_asg = " / ".join(f"{w['rss_mb']:.0f}" for w in asg["workers"])
    cpu_par = sum(w["cpu_s"] for w in par["workers"])
    runs = ser.get("runs", [ser["wall_s"]])
    ups = sorted(ser.get("speedups", [ser["wall_s"] / par["wall_s"]]))
    spread = (
        f"; {len(runs)} runs each, serial {min(runs):.1f}-{max(runs):.1f} s, 2 workers "
        f"{min(par['runs']):.1f}-{max(par['runs']):.1f} s, pairs' speed-ups "
        + ", ".join(f"{u:.2f}" for u in ups)
        if len(runs) > 1
        else ""
    )
    lines = [
        f"SYNTHETIC city: {city['households']:,} households, {city['units']} units, "
        f"{city['blocks']:,} blocks, {city['buildings']:,} buildings "
        f"(built in {city['seconds']:.0f} s); {r['same']['grids']:,} grids; "
        f"parallel plan identical to serial: {r['same']['identical']}",
        "",
        "| run | wall (s) | speed-up / rate | peak RSS (MB) | notes |",
        "|---|---:|---:|---:|---|",
        f"| partition, serial (1 process) | {ser['wall_s']:.1f} | 1.00 | {ser['rss_mb']:.0f} | "
        f"CPU {ser['cpu_s']:.0f} s, load {ser['load']:.1f} |",
        f"| partition, {args.workers} workers | {par['wall_s']:.1f} | "
        f"{ser['wall_s'] / par['wall_s']:.2f} | {w_par} (client {par['client_rss_mb']:.0f}) | "
        f"workers' CPU {cpu_par:.0f} s; cluster start {par['startup_s']:.1f} s; "
        f"load {par['load']:.1f}{spread} |",
        f"| units' planning alone, serial → {args.workers} plain processes (ceiling) | "
        f"{ser['seconds']['units']:.1f} → {top['wall_s']:.1f} | "
        f"{ser['seconds']['units'] / top['wall_s']:.2f} | – | no Dask, no reading, dissolving "
        f"or checks; the same step took {par['seconds']['units']:.1f} s on the workers |",
        f"| assign {asg['rows']:,} points, {args.workers} workers | {asg['wall_s']:.1f} | "
        f"{asg['points_per_s']:,.0f} pts/s | {w_asg} (client {asg['client_rss_mb']:.0f}) | "
        f"{asg['parts']} parts, {asg['in_grids']:,} in grids; load {asg['load']:.1f} |",
        f"| shapely STRtree, 1 process, {tree['rows']:,} points | {tree['wall_s']:.1f} | "
        f"{tree['points_per_s']:,.0f} pts/s | {tree['rss_mb']:.0f} | query only, first "
        f"covering grid (no boundary rule); 100M would take "
        f"{1e8 / tree['points_per_s']:.0f} s |",
        f"| PostGIS join, {pg['rows']:,} points | {pg['wall_s']:.1f} | "
        f"{pg['points_per_s']:,.0f} pts/s | – | boundary rule in SQL, GiST; load "
        f"{pg['load_s']:.1f} s; agrees with assign on {pg['agree_with_assign']:,} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--points", type=int, default=100_000_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--strtree-points", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=3, help="serial and parallel partition runs (medians)"
    )
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="working folder, kept (default: a temporary one)")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="comma-separated steps to (re)run in --work; the table reads every step's figures",
    )
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step is not None:
        found = globals()[f"step_{args.step}"](args, args.work)
        (args.work / f"{args.step}.json").write_text(json.dumps(found, indent=2))
        return
    argv = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("households", "units", "workers", "points", "files", "strtree_points",
                     "sample", "seed")
    ]  # fmt: skip
    steps = [s for s in args.steps.split(",") if s]
    if args.work is None and steps != list(STEPS):
        parser.error("--steps needs the --work folder of an earlier run")
    with tempfile.TemporaryDirectory(prefix="wangge-scale-") as tmp:
        work = args.work or Path(tmp)  # a given --work folder is kept
        work.mkdir(parents=True, exist_ok=True)
        for step in steps:
            if step == "parallel" and "serial" in steps:
                continue  # run in turn with serial
            if step == "serial" and "parallel" in steps:
                _run_pairs(argv, work, args)
            else:
                _run_step(step, argv, work, args.timeout)
        results = {
            step: json.loads((work / f"{step}.json").read_text())
            for step in STEPS
            if (work / f"{step}.json").exists()
        }
        missing = [step for step in STEPS if step not in results]
        if not missing:
            results["same"] = _same_plans(work)
    if missing:
        print(f"steps not run yet in {work}: {', '.join(missing)}; figures so far:")
        print(json.dumps(results, indent=2))
    else:
        print(_table(results, args))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
