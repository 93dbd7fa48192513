"""The block adjacency graph: which blocks share an edge, how long, and along what."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from gis import columns as col
from gis.options import DEFAULT_TOLERANCES, Tolerances

#: A shared edge counts as a street edge when this share of it lies near a bounding line.
STREET_SHARE = 0.5


def block_graph(
    blocks: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> nx.Graph:
    """Adjacency of blocks that share a boundary of positive length.

    Parameters
    ----------
    blocks
        Blocks with ``block_id``, ``households`` and ``unit_code``, in a metric CRS.
    streets
        The bounding lines the blocks were cut along.
    tolerances
        ``street_edge_m``: distance within which a shared edge lies along a bounding line
        (a street edge when :data:`STREET_SHARE` of it does).

    Returns
    -------
    networkx.Graph
        Nodes ``block_id`` with ``households`` and ``unit_code``; edges with ``shared_m``
        (metres) and ``street`` (the shared edge lies along a bounding line). Blocks of
        different units are adjacent too; partitions must not join them.
    """
    graph = nx.Graph()
    ids = blocks[col.BLOCK_ID].to_numpy()
    for bid, hh, unit in zip(
        ids, blocks[col.HOUSEHOLDS].to_numpy(), blocks[col.UNIT_CODE].to_numpy(), strict=True
    ):
        graph.add_node(int(bid), households=int(hh), unit_code=unit)
    geoms = blocks.geometry.to_numpy()
    if len(geoms) < 2:
        return graph
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b]))
    length = shapely.length(shared)
    pos = length > 1e-6
    a, b, shared, length = a[pos], b[pos], shared[pos], length[pos]
    on_street = np.zeros(len(a), dtype=bool)
    if len(streets) and len(a):
        near = shapely.buffer(
            shapely.union_all(streets.geometry.to_numpy()), tolerances.street_edge_m
        )
        shapely.prepare(near)
        along = shapely.length(shapely.intersection(shared, near))
        on_street = along >= STREET_SHARE * length
    for i, j, m, s in zip(a.tolist(), b.tolist(), length.tolist(), on_street.tolist(), strict=True):
        graph.add_edge(int(ids[i]), int(ids[j]), shared_m=float(m), street=bool(s))
    return graph


def graph_edges_frame(graph: nx.Graph) -> list[dict[str, float | int | bool]]:
    """The graph's edges as records (for writing next to the blocks)."""
    return [
        {"block_a": u, "block_b": v, col.SHARED_M: d[col.SHARED_M], "street": d["street"]}
        for u, v, d in graph.edges(data=True)
    ]
