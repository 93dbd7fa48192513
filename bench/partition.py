"""Benchmark: wangge's partition against spopt max-p, GerryChain and METIS on the same blocks.

Every method runs in its own subprocess (so a hang is cut off by ``--timeout`` and memory
is measured per method as the subprocess's peak resident set size), on the same street blocks
with the same households, unit by unit (no grid may cross an administrative unit). The peers
get whole blocks; wangge also splits blocks above the maximum between their buildings, which
no peer can do. Every plan is then checked by :func:`gis.checks.validate.validate_plan` from its
geometry alone.

Inputs: every ``data/*.gpkg`` sample (cut into blocks by :func:`gis.inputs.prepare.prepare_blocks`),
and synthetic cities (labelled SYNTHETIC): a small one all peers can run, and one of
500,000 households.

Usage::

    python bench/partition.py                      # samples + both synthetic cities
    python bench/partition.py --no-samples --timeout 120
    python bench/partition.py --json bench/out/partition.json
    python bench/partition.py --no-samples --no-synthetic --gpkg out/holdout/*.gpkg
    python bench/partition.py --street-less --compound-district --lattice --before REV
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

REPO = Path(__file__).resolve().parents[1]
#: The code a worker runs: this checkout, or an earlier revision unpacked by ``--before``.
CODE_ENV = "WANGGE_BENCH_CODE"
sys.path.insert(0, os.environ.get(CODE_ENV) or str(REPO))

import gis  # noqa: E402
from gis import columns as col  # noqa: E402
from gis.blocks.build import BlockSet  # noqa: E402
from gis.checks.off_street import off_street_boundary  # noqa: E402
from gis.checks.validate import validate_plan  # noqa: E402
from gis.datasets import lattice_city, voronoi_city  # noqa: E402

METHODS = ("wangge", "maxp", "gerrychain", "metis")
#: ``--before REV`` adds this method: wangge as it was at REV, on the same input in the same run.
BEFORE = "wangge-before"
LABELS = {
    "wangge": "wangge",
    BEFORE: "wangge before",
    "maxp": "spopt MaxPHeuristic",
    "gerrychain": "GerryChain recursive_tree_part",
    "metis": "pymetis k-way",
}
#: Methods not run on inputs with more blocks than this unless --all-peers (and why).
SKIP_ABOVE = {
    "maxp": (
        20_000,
        "skipped: dense n×n distance matrices per unit and minutes per 1k blocks (PRIOR_ART: "
        "232 s at 1,023 blocks); would run far beyond any timeout here",
    ),
}


# --------------------------------------------------------------------------------------
# peers: block label per block_id, unit by unit and component by component
# --------------------------------------------------------------------------------------
def unit_components(bs: BlockSet) -> list[list[int]]:
    """Connected groups of blocks of one unit (block ids), in a fixed order."""
    unit_of = dict(zip(bs.blocks[col.BLOCK_ID], bs.blocks[col.UNIT_CODE], strict=True))
    graph = nx.Graph()
    graph.add_nodes_from(int(b) for b in bs.blocks[col.BLOCK_ID])
    graph.add_edges_from((u, v) for u, v in bs.graph.edges() if unit_of.get(u) == unit_of.get(v))
    return sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: c[0])


def k_for(total: int, target: int) -> int:
    """Number of grids a peer is asked for: total / target, at least one."""
    return max(1, round(total / target))


def run_maxp(bs: BlockSet, lo: int, hi: int, target: int, seed: int) -> dict[int, int]:
    """spopt max-p with the household floor; attributes: block centroids (compactness)."""
    import libpysal  # noqa: PLC0415
    from spopt.region import MaxPHeuristic  # noqa: PLC0415

    np.random.seed(seed)  # noqa: NPY002 - max-p draws from the legacy global state, no seed argument
    hh = dict(zip(bs.blocks[col.BLOCK_ID], bs.blocks[col.HOUSEHOLDS], strict=True))
    labels: dict[int, int] = {}
    nxt = 0
    for comp in unit_components(bs):
        total = sum(hh[b] for b in comp)
        if len(comp) == 1 or total < 2 * lo:
            labels.update(dict.fromkeys(comp, nxt))
            nxt += 1
            continue
        sub = bs.blocks.set_index(col.BLOCK_ID).loc[comp].reset_index()
        cent = sub.geometry.centroid
        sub = sub.assign(cx=cent.x, cy=cent.y)
        pos = {b: i for i, b in enumerate(comp)}
        neighbours = {pos[b]: [pos[n] for n in bs.graph.neighbors(b) if n in pos] for b in comp}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = libpysal.weights.W(neighbours, silence_warnings=True)
            model = MaxPHeuristic(sub, w, ["cx", "cy"], col.HOUSEHOLDS, lo, top_n=2)
            model.solve()
        for b, lab in zip(comp, np.asarray(model.labels_).tolist(), strict=True):
            labels[b] = nxt + int(lab)
        nxt = max(labels.values()) + 1
    return labels


def k_way_by_component(
    bs: BlockSet,
    target: int,
    part: Callable[[list[int], dict[int, int], int, int], dict[int, int]],
) -> dict[int, int]:
    """Labels from a k-way peer run unit component by component (k from the target).

    ``part(comp, hh, total, k)`` returns a part 0..k-1 per block of one component; a
    component asked for one grid is labelled whole without calling it.
    """
    hh = dict(zip(bs.blocks[col.BLOCK_ID], bs.blocks[col.HOUSEHOLDS], strict=True))
    labels: dict[int, int] = {}
    nxt = 0
    for comp in unit_components(bs):
        total = sum(hh[b] for b in comp)
        k = min(k_for(total, target), len(comp))
        parts = dict.fromkeys(comp, 0) if k == 1 else part(comp, hh, total, k)
        for b, p in parts.items():
            labels[int(b)] = nxt + int(p)
        nxt += k
    return labels


def run_gerrychain(bs: BlockSet, lo: int, hi: int, target: int, seed: int) -> dict[int, int]:
    """GerryChain recursive tree partition: k from the target, ε fitting the band."""
    from gerrychain import Graph  # noqa: PLC0415
    from gerrychain.partition.initial_partition_generators import (  # noqa: PLC0415
        recursive_tree_part,
    )

    def part(comp: list[int], hh: dict[int, int], total: int, k: int) -> dict[int, int]:
        pop_target = total / k
        epsilon = max(0.05, min(hi / pop_target - 1, 1 - lo / pop_target))
        sub = nx.Graph()
        for b in comp:
            sub.add_node(b, households=int(hh[b]))
        sub.add_edges_from((u, v) for u, v in bs.graph.subgraph(comp).edges())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assignment = recursive_tree_part(
                Graph.from_networkx(sub), range(k), pop_target, "households", epsilon, rng=seed
            )
        return {int(b): int(p) for b, p in assignment.items()}

    return k_way_by_component(bs, target, part)


def run_metis(bs: BlockSet, lo: int, hi: int, target: int, seed: int) -> dict[int, int]:
    """pymetis k-way, contiguous, vertex weights = households."""
    import pymetis  # noqa: PLC0415

    def part(comp: list[int], hh: dict[int, int], total: int, k: int) -> dict[int, int]:
        pos = {b: i for i, b in enumerate(comp)}
        adjacency = [[pos[n] for n in bs.graph.neighbors(b) if n in pos] for b in comp]
        weights = [int(hh[b]) for b in comp]
        opts = pymetis.Options(seed=seed)
        try:
            _, parts = pymetis.part_graph(
                k, adjacency=adjacency, vweights=weights, contiguous=True, options=opts
            )
        except Exception:  # METIS refuses contiguity on some graphs: plain k-way then
            _, parts = pymetis.part_graph(k, adjacency=adjacency, vweights=weights, options=opts)
        return {b: int(p) for b, p in zip(comp, parts, strict=True)}

    return k_way_by_component(bs, target, part)


PEERS = {"maxp": run_maxp, "gerrychain": run_gerrychain, "metis": run_metis}


def grids_from_labels(bs: BlockSet, labels: dict[int, int]) -> gpd.GeoDataFrame:
    """Dissolve blocks by label into grids."""
    blocks = bs.blocks.assign(_g=[labels[int(b)] for b in bs.blocks[col.BLOCK_ID]])
    geoms = blocks.geometry.to_numpy()
    groups = blocks.groupby("_g").indices
    polys = [shapely.union_all(geoms[idx]) for _, idx in sorted(groups.items())]
    return gpd.GeoDataFrame(
        {col.GRID_ID: np.arange(len(polys)), col.KIND: "ordinary"}, geometry=polys, crs=bs.crs
    )


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB).

    ``VmHWM`` rather than ``getrusage``: ``ru_maxrss`` survives ``exec`` on Linux, so a worker
    would report the driver's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------
# worker: one method on one input, in its own process
# --------------------------------------------------------------------------------------
def worker(
    method: str, blockset_path: Path, out_path: Path, band: tuple[int, int, int], seed: int
) -> None:
    """Run one method and write its figures as JSON."""
    with blockset_path.open("rb") as fh:
        bs: BlockSet = pickle.load(fh)
    lo, hi, target = band
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    note = ""
    if method in ("wangge", BEFORE):
        plan = gis.partition(bs, seed=seed, band=gis.Band(lo, hi, target))
        seconds = time.perf_counter() - started
        grids = plan.grids
        reasons = [e.reason for e in plan.report.exceptions]
        note = f"{plan.report.blocks_split} blocks split between grids"
        if reasons:
            note += "; exceptions: " + ", ".join(
                f"{r} ×{reasons.count(r)}" for r in dict.fromkeys(reasons)
            )
    else:
        labels = PEERS[method](bs, lo, hi, target, seed)
        seconds = time.perf_counter() - started
        grids = grids_from_labels(bs, labels)
    peak = peak_rss_mb()
    report = validate_plan(
        grids,
        buildings=bs.buildings,
        streets=bs.streets,
        units=bs.units,
        households=bs.households,
        band=gis.Band(lo, hi),
    )
    roads = gpd.GeoDataFrame(
        gpd.pd.concat([bs.streets, bs.inner_lines], ignore_index=True), crs=bs.crs
    )
    off = off_street_boundary(
        grids, roads=roads, units=bs.units, households=bs.households, band=gis.Band(lo, hi)
    )
    out_path.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak,
                "baseline_mb": rss_before,
                "note": note,
                "metrics": {**report.to_dict()["metrics"], **off},
            }
        )
    )


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------
def run_method(
    method: str,
    bs_path: Path,
    band: tuple[int, int, int],
    seed: int,
    timeout: float,
    code: Path | None = None,
) -> dict[str, Any]:
    """Run one method in a subprocess with a time limit (``code``: the gis package's root)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--input",
        str(bs_path),
        "--out",
        str(out),
        "--min",
        str(band[0]),
        "--max",
        str(band[1]),
        "--target",
        str(band[2]),
        "--seed",
        str(seed),
    ]
    started = time.perf_counter()
    try:
        env = {**os.environ, CODE_ENV: str(code)} if code is not None else None
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        out.unlink(missing_ok=True)
        return {"status": f"timeout ({timeout:.0f} s)"}
    if proc.returncode != 0:
        out.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {last[:90]}", "seconds": time.perf_counter() - started}
    result = json.loads(out.read_text())
    out.unlink(missing_ok=True)
    result["status"] = "ok"
    return result


def inputs(args: argparse.Namespace) -> list[tuple[str, BlockSet]]:
    """The samples in data/ and the synthetic cities."""
    found: list[tuple[str, BlockSet]] = []
    if args.samples:
        from gis.inputs.prepare import prepare_blocks  # noqa: PLC0415

        for path in sorted((REPO / "data").glob("*.gpkg")):
            found.append(
                (f"{path.stem} (real OSM, households estimated)", prepare_blocks(path).blockset)
            )
    for path in args.gpkg or []:
        from gis.inputs.prepare import prepare_blocks  # noqa: PLC0415

        found.append(
            (f"{path.stem} (real OSM, households estimated)", prepare_blocks(path).blockset)
        )
    for n_blocks, households in args.synthetic:
        label = f"SYNTHETIC {n_blocks:,} blocks / {households:,} households"
        found.append(
            (
                label,
                voronoi_city(
                    n_blocks,
                    households=households,
                    n_units=max(2, n_blocks // 250),
                    n_compounds=max(2, n_blocks // 500),
                    rng=args.seed,
                ),
            )
        )
    return found


RAW = REPO / "data" / "raw" / "shanghai_bund_lujiazui.gpkg"
#: Layers of the raw extract carried into the doubled areas (roads only where asked).
RAW_LAYERS = ("buildings", "landuse", "barriers", "water", "waterways")


def _mirrored(gdf: gpd.GeoDataFrame, axis_lon: float) -> gpd.GeoDataFrame:
    """``gdf`` reflected east–west about the meridian ``axis_lon`` (degrees)."""
    out = gdf.copy()
    out.geometry = shapely.transform(
        gdf.geometry.to_numpy(), lambda xy: np.column_stack([2 * axis_lon - xy[:, 0], xy[:, 1]])
    )
    return out


def doubled_extract(tmp: Path, *, streets_west: bool) -> tuple[Path, Path, Path]:
    """The raw Shanghai extract and its mirror image side by side, no street in the mirror.

    The repo's extracts hold no street-less area of 3,000 buildings (the Shanghai one has
    1,517 footprints), so the extract is placed twice: as it is (west) and reflected about
    its eastern edge (east): 3,034 real OSM footprints, households estimated. The only roads
    are the frame's outline and, with ``streets_west``, the real streets of the west copy;
    the east copy is then one street-less block in its own unit (units split at the mirror
    line; demonstration codes). Returns the GeoPackage, boundary and roads files.
    """
    west = {layer: gpd.read_file(RAW, layer=layer) for layer in (*RAW_LAYERS, "roads")}
    axis_lon = float(west["buildings"].total_bounds[2]) + 0.0003
    gpkg = tmp / f"doubled_{int(streets_west)}.gpkg"
    for layer in RAW_LAYERS:
        both = gpd.pd.concat([west[layer], _mirrored(west[layer], axis_lon)], ignore_index=True)
        gpd.GeoDataFrame(both, crs=west[layer].crs).to_file(gpkg, layer=layer)
    x0, y0, _, y1 = west["buildings"].total_bounds
    x0, x1, y0, y1 = x0 - 0.0005, 2 * axis_lon - x0 + 0.0005, y0 - 0.0005, y1 + 0.0005
    frame = shapely.box(x0, y0, x1, y1)
    if streets_west:
        units = [shapely.box(x0, y0, axis_lon, y1), shapely.box(axis_lon, y0, x1, y1)]
        names, codes = ["街巷区(演示)", "无街区(演示)"], ["310101998001", "310101998002"]
    else:
        units, names, codes = [frame], ["无街区(演示)"], ["310101999001"]
    boundary, roads = (
        tmp / f"units_{int(streets_west)}.geojson",
        tmp / f"roads_{int(streets_west)}.geojson",
    )
    gpd.GeoDataFrame({"name": names, "code": codes}, geometry=units, crs=4326).to_file(boundary)
    lines = gpd.GeoDataFrame({"kind": ["minor_road"]}, geometry=[frame.exterior], crs=4326)
    if streets_west:
        real = west["roads"].to_crs(4326)
        real = real[real.intersects(units[0])]
        lines = gpd.GeoDataFrame(gpd.pd.concat([lines, real], ignore_index=True), crs=4326)
    lines.to_file(roads)
    return gpkg, boundary, roads


def issue12_inputs(args: argparse.Namespace, tmp: Path) -> list[tuple[str, BlockSet]]:
    """The cases of issue 12: a street-less real area, a district with a large street-less
    compound (both from the raw Shanghai extract placed twice) and a SYNTHETIC lattice city."""
    from gis.inputs.prepare import prepare_blocks  # noqa: PLC0415

    found: list[tuple[str, BlockSet]] = []
    doubled = [
        (
            args.street_less,
            False,
            "STREET-LESS area: 3,034 real OSM buildings (Shanghai extract placed twice, "
            "mirrored), households estimated, no street inside",
        ),
        (
            args.compound_district,
            True,
            "COMPOUND DISTRICT: Shanghai extract with its real streets beside its mirror "
            "image without streets (real OSM buildings, households estimated)",
        ),
    ]
    for wanted, streets_west, label in doubled:
        if wanted:
            gpkg, boundary, roads = doubled_extract(tmp, streets_west=streets_west)
            found.append((label, prepare_blocks(gpkg, boundary=boundary, roads=roads).blockset))
    if args.lattice:
        found.append(
            (
                "SYNTHETIC lattice city: 20 communities / 200,000 households, jittered "
                "streets, 2 street-less compounds each",
                lattice_city((5, 4), households=200_000, rng=args.seed),
            )
        )
    return found


def unpack_revision(rev: str, tmp: Path) -> Path:
    """The tree of git revision ``rev`` of this repo, unpacked under ``tmp`` (nothing else is
    touched: no worktree, no checkout)."""
    out = tmp / "before"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "gis"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def fmt_row(name: str, r: dict[str, Any]) -> str:
    if r.get("status") != "ok":
        return f"  {name:<32} {r.get('status')}"
    m = r["metrics"]

    def f(x: Any, spec: str) -> str:
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    return (
        f"  {name:<32} {m['n_grids']:>6} {f(m['share_in_band'], '.1%'):>7} "
        f"{f(m['min_households'], 'd'):>6} {f(m['max_households'], 'd'):>6} "
        f"{f(m['polsby_popper_mean'], '.3f'):>6} {m['multipart_grids']:>5} "
        f"{f(m['gap_m2'], '.2f'):>9} {f(m['overlap_m2'], '.2f'):>9} "
        f"{m['buildings_split']:>5} {f(m['street_share'], '.1%'):>7} "
        f"{r['seconds']:>8.2f} {r['peak_mb']:>8.0f} {f(m.get('off_street_share'), '.1%'):>7}"
    )


HEADER = (
    f"  {'method':<32} {'grids':>6} {'inband':>7} {'minhh':>6} {'maxhh':>6} {'PP':>6} "
    f"{'multi':>5} {'gap m2':>9} {'ovl m2':>9} {'bsplt':>5} {'street':>7} {'time s':>8} "
    f"{'peak MB':>8} {'offstr':>7}"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=int, default=300)
    parser.add_argument("--max", type=int, default=800)
    parser.add_argument("--target", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="per method and input (s)")
    parser.add_argument("--no-samples", dest="samples", action="store_false")
    parser.add_argument(
        "--gpkg",
        type=Path,
        nargs="+",
        help="more areas as conventional GeoPackages (e.g. from bench/holdout_areas.py)",
    )
    parser.add_argument(
        "--synthetic",
        type=lambda s: tuple(int(x) for x in s.split(":")),
        action="append",
        metavar="BLOCKS:HOUSEHOLDS",
        help="synthetic cities (default 1000:50000 and 10000:500000)",
    )
    parser.add_argument("--no-synthetic", dest="use_synthetic", action="store_false")
    parser.add_argument(
        "--street-less",
        action="store_true",
        help="issue 12: a street-less area of 3,034 real buildings (one block)",
    )
    parser.add_argument(
        "--compound-district",
        action="store_true",
        help="issue 12: real streets beside a street-less compound of ~38,000 households",
    )
    parser.add_argument(
        "--lattice", action="store_true", help="the SYNTHETIC lattice city of issue 12"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run wangge as it was at git revision REV (same inputs, same run)",
    )
    parser.add_argument(
        "--all-peers",
        action="store_true",
        help="also run peers that would take far too long on big inputs",
    )
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.use_synthetic:
        args.synthetic = []
    elif args.synthetic is None:
        args.synthetic = [(1_000, 50_000), (10_000, 500_000)]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    band = (args.min, args.max, args.target)
    if args.worker:
        logging.basicConfig(level=logging.WARNING)
        worker(args.worker, args.input, args.out, band, args.seed)
        return
    methods = [m for m in args.methods.split(",") if m]
    if args.before:
        methods.insert(methods.index("wangge") + 1 if "wangge" in methods else 0, BEFORE)
    print(
        f"band {args.min}–{args.max}, target {args.target}, seed {args.seed}, "
        f"timeout {args.timeout:.0f} s per method; time = partition only (peers: labels; "
        "wangge: splitting + search + dissolve); peak MB = subprocess max RSS incl. inputs"
        + (f"; wangge before = git revision {args.before}" if args.before else "")
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        before = unpack_revision(args.before, Path(tmp)) if args.before else None
        for label, bs in [*inputs(args), *issue12_inputs(args, Path(tmp))]:
            path = Path(tmp) / "blockset.pkl"
            with path.open("wb") as fh:
                pickle.dump(bs, fh)
            n = len(bs.blocks)
            print(
                f"\n{label}: {n:,} blocks, {int(bs.blocks[col.HOUSEHOLDS].sum()):,} "
                f"households, {bs.blocks[col.UNIT_CODE].nunique()} units, "
                f"{int((bs.blocks[col.HOUSEHOLDS] > args.max).sum())} blocks above max, "
                f"largest block {int(bs.blocks[col.HOUSEHOLDS].max()):,} households"
            )
            print(HEADER)
            results[label] = {}
            for method in methods:
                limit = SKIP_ABOVE.get(method)
                if limit and n > limit[0] and not args.all_peers:
                    r: dict[str, Any] = {"status": limit[1]}
                else:
                    code = before if method == BEFORE else None
                    r = run_method(method, path, band, args.seed, args.timeout, code)
                results[label][method] = r
                print(fmt_row(LABELS[method], r), flush=True)
                if r.get("note"):
                    print(f"  {'':<32} ({r['note']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
