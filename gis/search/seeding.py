"""Seeding the partition search: a contiguous METIS k-way partition of a component's atoms.

METIS (through pymetis) cuts the atoms' adjacency graph, weighted by households and shared
boundary, into ``k`` parts of about equal households; :mod:`gis.search.local` then makes every
part connected and improves the plan. Atoms of one group (the faces of a compound) are given to
METIS as one vertex, so a face starts in one grid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pymetis

log = logging.getLogger(__name__)


def metis_parts(
    node: Sequence[int],
    n_nodes: int,
    households: Sequence[int],
    nbrs: Sequence[Sequence[int]],
    nbw: Sequence[Sequence[float]],
    k: int,
    seed: int,
) -> list[int] | None:
    """Part (0..k-1) of every atom, or None when METIS refuses the graph.

    Parameters
    ----------
    node
        Per atom, the vertex it belongs to (0..n_nodes-1): atoms of a vertex stay together.
    n_nodes
        Number of vertices.
    households
        Households per atom; a vertex weighs 1 plus its atoms' households.
    nbrs, nbw
        Neighbours of every atom and the shared boundary (m) with each: edge weights between
        vertices, rounded to whole metres (at least 1).
    k
        Number of parts.
    seed
        METIS's random seed.
    """
    nb: list[dict[int, float]] = [{} for _ in range(n_nodes)]
    vweights = [1] * n_nodes
    for a in range(len(node)):
        vweights[node[a]] += max(0, households[a])
        for j, x in zip(nbrs[a], nbw[a], strict=True):
            if node[j] != node[a]:
                nb[node[a]][node[j]] = nb[node[a]].get(node[j], 0.0) + x
    xadj = [0]
    adjncy: list[int] = []
    eweights: list[int] = []
    for c in range(n_nodes):
        for j, x in sorted(nb[c].items()):
            adjncy.append(j)
            eweights.append(max(1, round(x)))
        xadj.append(len(adjncy))
    opts = pymetis.Options(seed=seed, contig=1)
    # pymetis >= 2025.2 takes CSR adjacency as an object (the xadj= form is deprecated)
    graph: dict[str, Any] = (
        {"adjacency": pymetis.CSRAdjacency(xadj, adjncy)}
        if hasattr(pymetis, "CSRAdjacency")
        else {"xadj": xadj, "adjncy": adjncy}
    )
    try:
        _, parts = pymetis.part_graph(
            k, vweights=vweights, eweights=eweights, options=opts, **graph
        )
    except Warning:
        raise  # a deprecation must surface, not silently switch the algorithm
    except Exception as exc:  # METIS refuses some tiny or odd graphs
        log.debug("METIS failed (%s)", exc)
        return None
    return [int(parts[node[a]]) for a in range(len(node))]
