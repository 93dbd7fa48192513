"""Synthetic areas for tests, examples and benchmarks (never real data).

:func:`grid_blockset` builds a small street grid of square blocks with known households;
:func:`voronoi_city` builds a large irregular city (Voronoi blocks, lumpy households, a few
tower compounds above the maximum). Both return a :class:`gis.blocks.build.BlockSet` that honours
the contract of :func:`gis.blocks.build.build_blocks`: blocks tile every unit, buildings lie whole
inside their block, adjacency carries ``shared_m`` and ``street``.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet

#: UTM zone 50N: a metric CRS over eastern China.
SYNTHETIC_CRS = pyproj.CRS.from_epsg(32650)
#: Where synthetic areas start (m, in :data:`SYNTHETIC_CRS`).
ORIGIN = (500_000.0, 3_500_000.0)


def blockset_from_blocks(
    blocks: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    inner_lines: Sequence[shapely.Geometry] = (),
) -> BlockSet:
    """Complete a BlockSet from blocks and buildings.

    Parameters
    ----------
    blocks
        ``block_id`` (0..n-1), ``unit_code``, ``households`` and polygons that tile each unit.
    buildings
        Footprints with ``block_id`` and ``households``; households are placed as one point
        per building (its representative point).
    inner_lines
        Service roads, footways or walls inside blocks.

    Returns
    -------
    BlockSet
        Streets are the block outlines; every adjacency is a street edge.
    """
    crs = blocks.crs
    blocks = blocks.copy()
    if col.UNIT_NAME not in blocks.columns:
        blocks[col.UNIT_NAME] = "Unit " + blocks[col.UNIT_CODE].astype(str)
    blocks[col.HOUSEHOLDS_ESTIMATED] = False
    blocks[col.AREA_M2] = blocks.geometry.area
    buildings = buildings.copy()
    buildings[col.BUILDING_ID] = np.arange(len(buildings))
    buildings[col.HOUSEHOLDS_ESTIMATED] = False
    blocks["n_buildings"] = (
        buildings.groupby(col.BLOCK_ID)
        .size()
        .reindex(blocks[col.BLOCK_ID])
        .fillna(0)
        .astype(int)
        .to_numpy()
    )
    units = blocks.dissolve(col.UNIT_CODE, as_index=False)[
        [col.UNIT_CODE, col.UNIT_NAME, "geometry"]
    ]
    geoms = blocks.geometry.to_numpy()
    street_lines = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(geoms))))
    streets = gpd.GeoDataFrame(
        {col.HIGHWAY: np.full(len(street_lines), "residential", dtype=object)},
        geometry=street_lines,
        crs=crs,
    )
    lines = gpd.GeoDataFrame(
        {col.HIGHWAY: np.full(len(inner_lines), "service", dtype=object)},
        geometry=list(inner_lines),
        crs=crs,
    )
    return BlockSet(
        blocks=blocks,
        buildings=buildings,
        households=_household_points(blocks, buildings),
        graph=adjacency_graph(blocks),
        streets=streets,
        inner_lines=lines,
        units=units,
        crs=crs,
    )


def _household_points(blocks: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One household point per building with households, and one per block for the rest."""
    crs = blocks.crs
    keep = buildings[col.HOUSEHOLDS] > 0
    households = gpd.GeoDataFrame(
        {
            col.BLOCK_ID: buildings.loc[keep, col.BLOCK_ID].to_numpy(),
            col.HOUSEHOLDS: buildings.loc[keep, col.HOUSEHOLDS].to_numpy(),
        },
        geometry=buildings.geometry[keep].representative_point().to_numpy(),
        crs=crs,
    )
    loose = blocks[col.HOUSEHOLDS].to_numpy() - (
        households.groupby(col.BLOCK_ID)[col.HOUSEHOLDS]
        .sum()
        .reindex(blocks[col.BLOCK_ID])
        .fillna(0)
        .to_numpy()
    )
    if (loose != 0).any():  # households not in any building: one point at the block's centre
        rows = np.flatnonzero(loose > 0)
        extra = gpd.GeoDataFrame(
            {
                col.BLOCK_ID: blocks[col.BLOCK_ID].to_numpy()[rows],
                col.HOUSEHOLDS: loose[rows].astype(np.int64),
            },
            geometry=blocks.geometry.iloc[rows].representative_point().to_numpy(),
            crs=crs,
        )
        households = gpd.GeoDataFrame(
            gpd.pd.concat([households, extra], ignore_index=True), crs=crs
        )
    return households


def adjacency_graph(blocks: gpd.GeoDataFrame) -> nx.Graph:
    """Block adjacency with ``shared_m``; every shared edge counted as a street edge."""
    geoms = blocks.geometry.to_numpy()
    ids = blocks[col.BLOCK_ID].to_numpy()
    graph = nx.Graph()
    for b, hh, unit in zip(
        ids.tolist(), blocks[col.HOUSEHOLDS].tolist(), blocks[col.UNIT_CODE].tolist(), strict=True
    ):
        graph.add_node(b, households=hh, unit_code=unit)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b]))
    )
    for i, j, m in zip(a.tolist(), b.tolist(), shared.tolist(), strict=True):
        if m > 1e-6:
            graph.add_edge(int(ids[i]), int(ids[j]), shared_m=m, street=True)
    return graph


def grid_blockset(
    nx_blocks: int,
    ny_blocks: int,
    *,
    households: int | npt.ArrayLike = 100,
    block_m: float = 100.0,
    units: npt.ArrayLike | None = None,
    towers: dict[int, Sequence[int]] | None = None,
    inner_lines: dict[int, Sequence[shapely.Geometry]] | None = None,
) -> BlockSet:
    """A grid of square blocks, numbered row by row from the south-west corner.

    Parameters
    ----------
    nx_blocks, ny_blocks
        Blocks west→east and south→north.
    households
        Households per block: one number, or ``ny_blocks × nx_blocks`` numbers (row 0 south).
    block_m
        Side of a block (m).
    units
        Unit code per block (same shape as ``households``); one unit ``U0`` by default.
    towers
        Block id → households of each tower: those blocks get a row-major lattice of
        20 m square towers instead of one building, and their households are the sum.
    inner_lines
        Block id → lines (in block-local metres from the block's south-west corner) to add
        as service roads inside that block.

    Returns
    -------
    BlockSet
    """
    n = nx_blocks * ny_blocks
    hh = np.broadcast_to(np.asarray(households, dtype=np.int64), (ny_blocks, nx_blocks)).ravel()
    hh = hh.copy()
    unit = (
        np.asarray(units, dtype=object).ravel()
        if units is not None
        else np.full(n, "U0", dtype=object)
    )
    x0, y0 = ORIGIN
    cols, rows = np.arange(n) % nx_blocks, np.arange(n) // nx_blocks
    minx, miny = x0 + cols * block_m, y0 + rows * block_m
    geoms = shapely.box(minx, miny, minx + block_m, miny + block_m)
    b_geom: list[shapely.Geometry] = []
    b_block: list[int] = []
    b_hh: list[int] = []
    towers = towers or {}
    for i in range(n):
        if i in towers:
            tw = list(towers[i])
            hh[i] = sum(tw)
            b_geom.extend(tower_lattice(geoms[i], len(tw)))
            b_block.extend([i] * len(tw))
            b_hh.extend(tw)
        else:
            b_geom.append(shapely.buffer(geoms[i], -0.2 * block_m, join_style="mitre"))
            b_block.append(i)
            b_hh.append(int(hh[i]))
    blocks = gpd.GeoDataFrame(
        {col.BLOCK_ID: np.arange(n), col.UNIT_CODE: unit, col.HOUSEHOLDS: hh},
        geometry=geoms,
        crs=SYNTHETIC_CRS,
    )
    buildings = gpd.GeoDataFrame(
        {col.BLOCK_ID: b_block, col.HOUSEHOLDS: b_hh}, geometry=b_geom, crs=SYNTHETIC_CRS
    )
    lines = [
        shapely.affinity.translate(line, float(minx[i]), float(miny[i]))
        for i, ls in (inner_lines or {}).items()
        for line in ls
    ]
    return blockset_from_blocks(blocks, buildings, inner_lines=lines)


def tower_lattice(
    block: shapely.Geometry, count: int, *, size_m: float = 20.0, gap_m: float = 12.0
) -> list[shapely.Geometry]:
    """``count`` square towers on a lattice inside ``block`` (shrinking to fit)."""
    inner = shapely.buffer(block, -gap_m, join_style="mitre")
    for scale in (1.0, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1):
        size, step = size_m * scale, (size_m + gap_m) * scale
        minx, miny, maxx, maxy = inner.bounds
        xs = np.arange(minx, maxx - size + 1e-9, step)
        ys = np.arange(miny, maxy - size + 1e-9, step)
        gx, gy = np.meshgrid(xs, ys)
        cand = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size, gy.ravel() + size)
        cand = cand[shapely.within(cand, inner)]
        if len(cand) >= count:
            pick = np.linspace(0, len(cand) - 1, count).round().astype(int)
            return list(cand[pick])
    msg = f"block of {shapely.area(block):.0f} m² has no room for {count} towers"
    raise ValueError(msg)


def voronoi_city(
    n_blocks: int = 10_000,
    *,
    households: int = 500_000,
    n_units: int = 40,
    n_compounds: int = 20,
    rng: int | np.random.Generator | None = 0,
) -> BlockSet:
    """A synthetic city of irregular blocks (Voronoi cells of a jittered lattice).

    Households are lumpy (log-normal, ~10 % empty blocks such as parks), ``n_compounds``
    blocks are tower compounds above 800 households with a service road through them, and
    one compound holds a single 900-household tower (an infeasible grid by construction).

    Parameters
    ----------
    n_blocks
        Approximate number of blocks (~100 m across).
    households
        Total households (exact).
    n_units
        Administrative units (Voronoi regions of random seeds, built from whole blocks).
    n_compounds
        Tower compounds above the default maximum.
    rng
        Seed or generator.

    Returns
    -------
    BlockSet
    """
    gen = np.random.default_rng(rng)
    side = int(np.ceil(np.sqrt(n_blocks)))
    step = 100.0
    cells = _voronoi_cells(side, step, gen)
    hh, tower_hh = _lumpy_households(cells, households, n_compounds, gen)
    x0, y0 = ORIGIN
    seeds = gen.uniform(0, side * step, size=(n_units, 2)) + np.asarray([x0, y0])
    cent = shapely.get_coordinates(shapely.centroid(cells))
    d2 = ((cent[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    unit = np.asarray([f"U{u:03d}" for u in d2.argmin(axis=1)], dtype=object)
    buildings, lines = _city_buildings(cells, hh, tower_hh)
    hh = np.asarray(hh)
    for i, tw in tower_hh.items():
        hh[i] = sum(tw)
    blocks = gpd.GeoDataFrame(
        {col.BLOCK_ID: np.arange(len(cells)), col.UNIT_CODE: unit, col.HOUSEHOLDS: hh},
        geometry=cells,
        crs=SYNTHETIC_CRS,
    )
    return blockset_from_blocks(blocks, buildings, inner_lines=lines)


def _voronoi_cells(side: int, step: float, gen: np.random.Generator) -> npt.NDArray[np.object_]:
    """Voronoi cells of a jittered ``side`` × ``side`` lattice of spacing ``step`` (m)."""
    x0, y0 = ORIGIN
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    pts = np.column_stack([gx.ravel(), gy.ravel()]).astype(float) * step + step / 2
    pts += gen.uniform(-0.35 * step, 0.35 * step, size=pts.shape)
    pts += (x0, y0)
    frame = shapely.box(x0, y0, x0 + side * step, y0 + side * step)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    # round to the millimetre, then drop the fixed precision model set_precision attaches
    # (it would make every later overlay snap-round)
    cells = shapely.from_wkb(shapely.to_wkb(shapely.set_precision(cells, 0.001)))
    return cells[shapely.area(cells) > 1.0]


def _lumpy_households(
    cells: npt.NDArray[np.object_], households: int, n_compounds: int, gen: np.random.Generator
) -> tuple[npt.NDArray[np.int64], dict[int, list[int]]]:
    """Households per cell adding up to ``households``, and the towers of the compounds."""
    n = len(cells)
    hh = np.round(gen.lognormal(np.log(45.0), 0.8, size=n)).astype(np.int64)
    hh[gen.random(n) < 0.10] = 0
    compounds = gen.choice(
        np.flatnonzero(shapely.area(cells) > 8_000), size=n_compounds, replace=False
    )
    tower_hh: dict[int, list[int]] = {}
    for j, c in enumerate(compounds.tolist()):
        if j == 0:
            tower_hh[c] = [900, 120, 80]
        else:
            tower_hh[c] = gen.integers(60, 260, size=int(gen.integers(5, 14))).tolist()
        hh[c] = sum(tower_hh[c])
    ordinary = np.setdiff1d(np.arange(n), compounds)
    short = households - int(hh.sum())
    base = hh[ordinary].astype(float)
    scaled = np.floor(base * (1 + short / max(base.sum(), 1))).astype(np.int64)
    scaled = np.minimum(scaled, 700)
    hh[ordinary] = scaled
    rest = households - int(hh.sum())
    bump = gen.choice(ordinary[hh[ordinary] < 600], size=max(rest, 0), replace=True)
    np.add.at(hh, bump, 1)
    return hh, tower_hh


def _city_buildings(
    cells: npt.NDArray[np.object_],
    hh: npt.NDArray[np.int64],
    tower_hh: dict[int, list[int]],
    *,
    service_roads: bool = True,
) -> tuple[gpd.GeoDataFrame, list[shapely.Geometry]]:
    """One building per ordinary cell, towers (and a service road) in each compound."""
    b_geom: list[shapely.Geometry] = []
    b_block: list[int] = []
    b_hh: list[int] = []
    lines: list[shapely.Geometry] = []
    shrunk = shapely.buffer(cells, -8.0, join_style="mitre")
    small = shapely.is_empty(shrunk) | (shapely.area(shrunk) < 25.0)
    fallback = shapely.buffer(shapely.point_on_surface(cells), 2.0, quad_segs=1)
    shrunk = np.where(small, fallback, shrunk)
    for i in range(len(cells)):
        if i in tower_hh:
            tw = tower_hh[i]
            b_geom.extend(tower_lattice(cells[i], len(tw), size_m=18.0, gap_m=8.0))
            b_block.extend([i] * len(tw))
            b_hh.extend(tw)
            c = shapely.centroid(cells[i])
            if service_roads:
                lines.append(shapely.LineString([(c.x - 200, c.y + 0.5), (c.x + 200, c.y + 0.5)]))
        else:
            b_geom.append(shrunk[i])
            b_block.append(i)
            b_hh.append(int(hh[i]))
    buildings = gpd.GeoDataFrame(
        {col.BLOCK_ID: b_block, col.HOUSEHOLDS: b_hh}, geometry=b_geom, crs=SYNTHETIC_CRS
    )
    return buildings, lines


def lattice_city(
    n_units: tuple[int, int] = (5, 4),
    *,
    unit_blocks: int = 10,
    households: int = 200_000,
    compounds_per_unit: int = 2,
    compound_blocks: int = 3,
    rng: int | np.random.Generator | None = 0,
) -> BlockSet:
    """A synthetic city of square communities on a jittered street lattice.

    Every community (unit) is ``unit_blocks`` × ``unit_blocks`` lattice cells of about 100 m
    whose corners are jittered, so four blocks rarely meet in one point and two blocks often
    touch at a single corner only. ``compounds_per_unit`` street-less compounds per community
    (``compound_blocks`` × ``compound_blocks`` cells merged, towers inside) hold more than
    the maximum; the other blocks hold one building each.

    Parameters
    ----------
    n_units
        Communities west→east and south→north.
    unit_blocks
        Lattice cells per community side.
    households
        Households in the whole city.
    compounds_per_unit, compound_blocks
        Street-less compounds per community, and their side in lattice cells.
    rng
        Seed or generator (same seed, same city).

    Returns
    -------
    BlockSet
    """
    gen = np.random.default_rng(rng)
    ux, uy = n_units
    nx_c, ny_c = ux * unit_blocks, uy * unit_blocks
    step = 100.0
    gx, gy = np.meshgrid(np.arange(nx_c + 1), np.arange(ny_c + 1))
    vx = gx * step + gen.uniform(-0.2 * step, 0.2 * step, size=gx.shape)
    vy = gy * step + gen.uniform(-0.2 * step, 0.2 * step, size=gy.shape)
    # the city's outline stays straight
    vx[:, 0], vx[:, -1], vy[0, :], vy[-1, :] = 0.0, nx_c * step, 0.0, ny_c * step
    vx, vy = vx + ORIGIN[0], vy + ORIGIN[1]
    owner = np.arange(nx_c * ny_c).reshape(ny_c, nx_c)
    per_unit = households // (ux * uy)
    compound_hh = per_unit // 5
    for u in range(ux * uy):
        c0, r0 = (u % ux) * unit_blocks, (u // ux) * unit_blocks
        spots = gen.choice(unit_blocks // compound_blocks, size=compounds_per_unit, replace=False)
        for s in spots.tolist():
            cc = c0 + s * compound_blocks
            rr = r0 + ((s * 2 + u) % (unit_blocks // compound_blocks)) * compound_blocks
            owner[rr : rr + compound_blocks, cc : cc + compound_blocks] = owner[rr, cc]
    quads = [
        shapely.Polygon(
            [
                (vx[r, c], vy[r, c]),
                (vx[r, c + 1], vy[r, c + 1]),
                (vx[r + 1, c + 1], vy[r + 1, c + 1]),
                (vx[r + 1, c], vy[r + 1, c]),
            ]
        )
        for r in range(ny_c)
        for c in range(nx_c)
    ]
    ids, inverse = np.unique(owner.ravel(), return_inverse=True)
    cells = np.asarray(
        [
            shapely.union_all([quads[q] for q in np.flatnonzero(inverse == i)])
            for i in range(len(ids))
        ],
        dtype=object,
    )
    cells = shapely.from_wkb(shapely.to_wkb(shapely.set_precision(cells, 0.001)))
    sizes = np.bincount(inverse)
    rows, cols_ = np.divmod(ids, nx_c)
    unit = np.asarray(
        [
            f"U{(r // unit_blocks) * ux + c // unit_blocks:03d}"
            for r, c in zip(rows, cols_, strict=True)
        ],
        dtype=object,
    )
    hh, tower_hh = _lattice_households(sizes, unit, per_unit, compound_hh, gen)
    buildings, _ = _city_buildings(cells, hh, tower_hh, service_roads=False)
    blocks = gpd.GeoDataFrame(
        {col.BLOCK_ID: np.arange(len(cells)), col.UNIT_CODE: unit, col.HOUSEHOLDS: hh},
        geometry=cells,
        crs=SYNTHETIC_CRS,
    )
    return blockset_from_blocks(blocks, buildings)


def _lattice_households(
    sizes: npt.NDArray[np.int64],
    unit: npt.NDArray[np.object_],
    per_unit: int,
    compound_hh: int,
    gen: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], dict[int, list[int]]]:
    """Households per block (``per_unit`` per unit) and the towers of the compounds."""
    hh = np.zeros(len(sizes), dtype=np.int64)
    tower_hh: dict[int, list[int]] = {}
    for u in np.unique(unit).tolist():
        mine = np.flatnonzero(unit == u)
        big = mine[sizes[mine] > 1]
        for c in big.tolist():
            towers = gen.integers(40, 160, size=compound_hh // 100)
            towers = np.maximum(np.round(towers * compound_hh / towers.sum()), 1).astype(int)
            tower_hh[c] = towers.tolist()
            hh[c] = int(towers.sum())
        small = np.setdiff1d(mine, big)
        rest = per_unit - int(hh[big].sum())
        weights = gen.lognormal(0.0, 0.6, size=len(small))
        share = np.floor(weights / weights.sum() * rest).astype(np.int64)
        np.add.at(share, gen.choice(len(small), size=rest - int(share.sum())), 1)
        hh[small] = share
    return hh, tower_hh
