"""Administrative units as independent pieces of work: each unit's own data, seeds, tasks.

Grids never cross a unit, so a unit is partitioned from its own blocks alone: its blocks,
the buildings and household features in them, the inner lines and streets that meet them,
and the block adjacency among them (:class:`UnitSplitter`). The serial planner and the
parallel one (:mod:`gis.parallel`) run the same per-unit function on the same data with the
same seed (:func:`unit_seeds`); only where it runs differs. Small units are grouped into
tasks of a useful size (:func:`group_units`), so a county of many small villages does not
become thousands of tiny tasks, while no task holds much more than its largest unit.

A unit's data travels as columns (:class:`FrameRows`: each column's values, the geometries
as WKB made in one call per layer, the index) and becomes a block set again where it is
planned: slicing and pickling GeoDataFrames row by row cost the calling process 3.5 s on a
city of 1,000,000 households, on the cores its workers were planning on.

Examples
--------
>>> from gis.datasets import grid_blockset
>>> bs = grid_blockset(4, 2, households=100, units=[["A"] * 2 + ["B"] * 2] * 2)
>>> split = UnitSplitter(bs)
>>> split.units, len(split.work("A", seed=1).blockset.blocks)
(['A', 'B'], 4)
>>> sorted(unit_seeds(["B", "A"], 0)) == ["A", "B"]
True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.options import Band

#: A task groups consecutive small units until it holds at least this many households
#: (about forty grids of the default band, 0.2-0.5 s of planning); a larger unit is a task
#: of its own. Each task costs the client's process about 14 ms of CPU (sending, the
#: scheduler, the result), taken from the workers on a 2-core machine: on the SYNTHETIC
#: 1,000,000-household city (bench/scale.py) 5,000 made 110 tasks and 1.5-1.8 s of it,
#: 20,000 about 40 tasks and 1.0-1.1 s.
MIN_TASK_HOUSEHOLDS = 20_000
#: …unless that would leave fewer than this many tasks per worker thread to balance.
TASKS_PER_THREAD = 4


@dataclass(frozen=True)
class FrameRows:
    """Some rows of a GeoDataFrame as plain columns (what a task carries).

    Attributes
    ----------
    columns
        Column name → its values at those rows (numpy or pandas extension arrays).
    geometry
        Name of the geometry column.
    wkb
        The rows' geometries as WKB.
    index
        The rows' index labels.
    crs
        The frame's CRS.
    """

    columns: dict[str, Any]
    geometry: str
    wkb: np.ndarray
    index: pd.Index
    crs: Any

    def frame(self) -> gpd.GeoDataFrame:
        """The rows as a GeoDataFrame again (columns in their order, same index and CRS)."""
        geoms = gpd.GeoSeries(shapely.from_wkb(self.wkb), index=self.index, crs=self.crs)
        data = {
            name: (geoms if name == self.geometry else pd.Series(values, index=self.index))
            for name, values in self.columns.items()
        }
        return gpd.GeoDataFrame(data, index=self.index, geometry=self.geometry, crs=self.crs)


class LayerColumns:
    """A GeoDataFrame split into columns once, to take rows from cheaply."""

    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        self.geometry = frame.geometry.name
        self.crs = frame.crs
        self.index = frame.index
        self.wkb = shapely.to_wkb(frame.geometry.to_numpy())
        self.columns = {
            str(name): (None if name == self.geometry else frame[name].array)
            for name in frame.columns
        }

    def rows(self, positions: np.ndarray) -> FrameRows:
        """The rows at ``positions``."""
        return FrameRows(
            {n: (None if a is None else a.take(positions)) for n, a in self.columns.items()},
            self.geometry,
            self.wkb[positions],
            self.index.take(positions),
            self.crs,
        )


@dataclass(frozen=True)
class UnitData:
    """A unit's own layers as columns, its blocks' adjacency as lists, and the CRS."""

    layers: dict[str, FrameRows]
    nodes: list[tuple[Any, dict[str, Any]]]
    edges: list[tuple[Any, Any, dict[str, Any]]]
    crs: Any

    def blockset(self) -> BlockSet:
        """The unit's block set."""
        graph = nx.Graph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges)
        frames = {name: rows.frame() for name, rows in self.layers.items()}
        return BlockSet(graph=graph, crs=self.crs, **frames)


@dataclass(frozen=True)
class UnitWork:
    """Everything needed to partition one administrative unit, and nothing else.

    Attributes
    ----------
    unit_code
        The unit (as found in the blocks' ``unit_code``).
    data
        The unit's own blocks, buildings, household features, inner lines, streets, block
        adjacency and unit outline (same CRS as the area's), as columns; :attr:`blockset`
        makes them a block set.
    whole_blocks
        Ids of the unit's blocks never split (natural villages).
    seed
        The unit's seed, drawn by :func:`unit_seeds`.
    band
        The unit's own band when its rule sets one (:mod:`gis.rules.unit_rules`); None: the
        area's.
    """

    unit_code: Any
    data: UnitData = field(repr=False)
    whole_blocks: tuple[int, ...]
    seed: int
    band: Band | None = None

    @cached_property
    def blockset(self) -> BlockSet:
        """The unit's own block set (made from :attr:`data` once, where it is used)."""
        return self.data.blockset()

    @property
    def households(self) -> int:
        """Households of the unit (what tasks are sized by)."""
        return int(self.blockset.blocks[col.HOUSEHOLDS].sum())


def sorted_units(units: Iterable[Hashable]) -> list[Any]:
    """Unit codes in the planner's order: sorted by their text."""
    return sorted(set(units), key=str)


def unit_seeds(units: Iterable[Hashable], rng: int | np.random.Generator | None) -> dict[Any, int]:
    """One seed per unit, drawn up front from one generator in sorted unit order.

    The same ``rng`` gives the same seeds whatever runs the units, in whatever order.
    """
    gen = np.random.default_rng(rng)
    return {unit: int(gen.integers(2**63 - 1)) for unit in sorted_units(units)}


class UnitSplitter:
    """Which rows of every layer of a block set belong to which unit (indexed once).

    Parameters
    ----------
    blockset
        The whole area's blocks.
    whole_blocks
        Ids of blocks never split (natural villages).

    Attributes
    ----------
    units
        The unit codes, sorted (:func:`sorted_units`).
    households
        Households per unit.
    """

    def __init__(self, blockset: BlockSet, whole_blocks: Collection[int] = ()) -> None:
        self.bs = blockset
        self.whole = {int(b) for b in whole_blocks}
        self.layers = {
            name: LayerColumns(getattr(blockset, name))
            for name in ("blocks", "buildings", "households", "streets", "inner_lines", "units")
        }
        blocks = blockset.blocks
        self.block_ids = blocks[col.BLOCK_ID].to_numpy()
        units = blocks[col.UNIT_CODE].to_numpy()
        self.block_rows = _rows_by(units)
        self.units = sorted_units(self.block_rows)
        hh = blocks[col.HOUSEHOLDS].to_numpy()
        self.households = {u: int(hh[rows].sum()) for u, rows in self.block_rows.items()}
        unit_of_block = pd.Series(units, index=blocks[col.BLOCK_ID].to_numpy())
        self.building_rows = _rows_by_block(blockset.buildings, unit_of_block)
        self.household_rows = _rows_by_block(blockset.households, unit_of_block)
        geoms = blocks.geometry.to_numpy()
        self.line_rows = _rows_meeting(blockset.inner_lines, geoms, units)
        self.street_rows = _rows_meeting(blockset.streets, geoms, units)
        self.unit_rows = _rows_by(blockset.units[col.UNIT_CODE].to_numpy())
        self.edges: dict[Any, list[tuple[Any, Any, dict[str, Any]]]] = defaultdict(list)
        unit_of = dict(zip(blocks[col.BLOCK_ID].tolist(), units.tolist(), strict=True))
        for u, v, data in blockset.graph.edges(data=True):
            uu = unit_of.get(u)
            if uu is not None and uu == unit_of.get(v):
                self.edges[uu].append((u, v, data))

    def work(self, unit: Any, seed: int, band: Band | None = None) -> UnitWork:
        """The unit's own data (a fresh :class:`UnitWork`), to plan with ``seed`` (and its
        own ``band``, when its rule sets one)."""
        bs = self.bs
        rows = {
            "blocks": self.block_rows[unit],
            "buildings": _positions(self.building_rows, unit),
            "households": _positions(self.household_rows, unit),
            "streets": _positions(self.street_rows, unit),
            "inner_lines": _positions(self.line_rows, unit),
            "units": _positions(self.unit_rows, unit),
        }
        ids = self.block_ids[rows["blocks"]].tolist()
        data = UnitData(
            layers={name: self.layers[name].rows(r) for name, r in rows.items()},
            nodes=[(b, bs.graph.nodes[b]) for b in ids if b in bs.graph],
            edges=self.edges.get(unit, []),
            crs=bs.crs,
        )
        whole = tuple(int(b) for b in ids if int(b) in self.whole)
        return UnitWork(unit, data, whole, seed, band)


def _rows_by(values: np.ndarray) -> dict[Any, np.ndarray]:
    """Row positions per value."""
    if len(values) == 0:
        return {}
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {uniques[i]: order[bounds[i] : bounds[i + 1]] for i in range(len(uniques))}


def _rows_by_block(frame: gpd.GeoDataFrame, unit_of_block: pd.Series) -> dict[Any, np.ndarray]:
    """Rows of a layer with ``block_id``, by the unit of their block (others belong to none)."""
    if len(frame) == 0 or col.BLOCK_ID not in frame.columns:
        return {}
    units = unit_of_block.reindex(frame[col.BLOCK_ID].to_numpy()).to_numpy()
    rows = _rows_by(units)
    return {u: r for u, r in rows.items() if not pd.isna(u)}


def _rows_meeting(
    frame: gpd.GeoDataFrame, block_geoms: np.ndarray, block_units: np.ndarray
) -> dict[Any, np.ndarray]:
    """Rows of a line layer meeting any block of each unit, in their original order."""
    if len(frame) == 0 or len(block_geoms) == 0:
        return {}
    tree = shapely.STRtree(frame.geometry.to_numpy())
    bi, li = tree.query(block_geoms, predicate="intersects")
    pairs = pd.DataFrame({"unit": pd.Series(block_units[bi], dtype=object), "row": li})
    pairs = pairs.drop_duplicates()
    return {
        unit: np.sort(group["row"].to_numpy()) for unit, group in pairs.groupby("unit", sort=False)
    }


def _positions(rows: dict[Any, np.ndarray], unit: Any) -> np.ndarray:
    """The row positions of a layer belonging to ``unit`` (none: an empty array)."""
    return rows.get(unit, np.empty(0, dtype=np.int64))


def group_units(
    households: dict[Any, int],
    *,
    threads: int,
    min_households: int = MIN_TASK_HOUSEHOLDS,
) -> list[list[Any]]:
    """Group units into tasks, largest tasks first.

    Consecutive units (in sorted order) below the threshold are grouped until the group
    holds at least the threshold; a unit at or above it is a task of its own. The threshold
    is ``min_households``, lowered so that there are at least :data:`TASKS_PER_THREAD` tasks
    per worker thread to balance. A task therefore holds at most about twice the threshold,
    or one unit: what a worker holds at once is bounded by the largest unit, not the city.

    Parameters
    ----------
    households
        Households per unit.
    threads
        Worker threads of the cluster.
    min_households
        The threshold before lowering.

    Returns
    -------
    list of list
        Units per task, the tasks with most households first (so long tasks start early).
    """
    total = sum(households.values())
    threshold = max(1, min(min_households, total // max(1, TASKS_PER_THREAD * threads)))
    groups: list[list[Any]] = []
    current: list[Any] = []
    held = 0
    for unit in sorted_units(households):
        if households[unit] >= threshold:
            groups.append([unit])
            continue
        current.append(unit)
        held += households[unit]
        if held >= threshold:
            groups.append(current)
            current, held = [], 0
    if current:
        groups.append(current)
    return sorted(groups, key=lambda g: -sum(households[u] for u in g))
