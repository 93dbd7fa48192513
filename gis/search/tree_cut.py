"""Cutting a connected set of atoms in two along random spanning trees.

The recombination move of the partition search (the ReCom idea of GerryChain, made
band-aware): draw a random spanning tree over the atoms of two neighbouring grids, and for
every tree edge evaluate the two halves that removing it leaves — both are connected by
construction. All cuts of one tree are scored in linear time from subtree sums: households,
area, effective perimeter, weighted degree, and the weight of edges whose lowest common
ancestor lies in the subtree (the edges internal to it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: How plans and cuts are ranked: (households outside the band, rest of the cost).
Rank = tuple[int, float]
#: Scores a cut from (households, area, perimeter) of each half.
CutScore = Callable[[int, float, float, int, float, float], Rank]


def best_tree_cut(
    nodes: Sequence[int],
    nbrs: Sequence[Sequence[int]],
    nbw: Sequence[Sequence[float]],
    values: tuple[Sequence[int], Sequence[float], Sequence[float]],
    score: CutScore,
    *,
    n_trees: int,
    rng: np.random.Generator,
) -> tuple[Rank, set[int]] | None:
    """Best cut of connected ``nodes`` in two, over ``n_trees`` random spanning trees.

    Parameters
    ----------
    nodes
        Atom ids (sorted, for determinism); they must induce a connected subgraph.
    nbrs, nbw
        Neighbours of every atom and the effective shared boundary length (m) to each.
    values
        Per atom: households, area (m²) and effective perimeter (m).
    score
        Rank of a cut from the two halves' households, area and perimeter; lower is better.
    n_trees
        Random spanning trees to draw.
    rng
        Source of randomness.

    Returns
    -------
    tuple or None
        ``(rank, side)`` of the best cut, ``side`` being the atoms of one half; ``None``
        when there are fewer than two nodes or they are not connected.
    """
    m = len(nodes)
    if m < 2:
        return None
    h_all, area_all, peff_all = values
    eu, ev, ew, deg = _local_edges(nodes, nbrs, nbw)
    if not eu:
        return None
    hh = [int(h_all[a]) for a in nodes]
    ar = [float(area_all[a]) for a in nodes]
    pe = [float(peff_all[a]) for a in nodes]
    edges = (eu, ev, ew)
    totals = (sum(hh), sum(ar), sum(pe), sum(ew))
    best: tuple[Rank, int, list[int], list[int]] | None = None
    for _ in range(n_trees):
        parent, order = random_spanning_tree(m, eu, ev, rng)
        if len(order) < m:
            return None  # not connected
        sums = _subtree_sums(parent, order, edges, (hh, ar, pe, deg))
        rank, x = _best_edge(order, sums, totals, score)
        if best is None or rank < best[0]:
            best = (rank, x, parent, order)
    if best is None:
        return None
    rank, root_of_side, parent, order = best
    inside = [False] * m
    inside[root_of_side] = True
    for x in order:
        if x != root_of_side and parent[x] >= 0 and inside[parent[x]]:
            inside[x] = True
    return rank, {nodes[i] for i in range(m) if inside[i]}


def _local_edges(
    nodes: Sequence[int], nbrs: Sequence[Sequence[int]], nbw: Sequence[Sequence[float]]
) -> tuple[list[int], list[int], list[float], list[float]]:
    """Edges among ``nodes`` (local indices, ``u < v``, weight) and the weighted degree of each."""
    pos = {a: i for i, a in enumerate(nodes)}
    eu: list[int] = []
    ev: list[int] = []
    ew: list[float] = []
    deg = [0.0] * len(nodes)
    for i, a in enumerate(nodes):
        for j, x in zip(nbrs[a], nbw[a], strict=True):
            pj = pos.get(j)
            if pj is None:
                continue
            deg[i] += x
            if i < pj:
                eu.append(i)
                ev.append(pj)
                ew.append(x)
    return eu, ev, ew, deg


def _subtree_sums(
    parent: list[int],
    order: list[int],
    edges: tuple[list[int], list[int], list[float]],
    values: tuple[list[int], list[float], list[float], list[float]],
) -> tuple[list[int], list[float], list[float], list[float], list[float]]:
    """Per node, sums over its subtree: households, area, perimeter, degree, internal weight.

    The internal weight of a subtree is that of the edges whose lowest common ancestor lies
    in it (both ends inside).
    """
    m = len(parent)
    depth = [0] * m
    for x in order[1:]:
        depth[x] = depth[parent[x]] + 1
    lw = [0.0] * m
    for p, q, weight in zip(*edges, strict=True):
        lca, other = p, q
        while lca != other:  # walk up to the lowest common ancestor
            if depth[lca] >= depth[other]:
                lca = parent[lca]
            else:
                other = parent[other]
        lw[lca] += weight
    hh, ar, pe, deg = values
    sh, sa, sp, sd, sl = list(hh), list(ar), list(pe), list(deg), lw
    for x in reversed(order[1:]):
        p = parent[x]
        sh[p] += sh[x]
        sa[p] += sa[x]
        sp[p] += sp[x]
        sd[p] += sd[x]
        sl[p] += sl[x]
    return sh, sa, sp, sd, sl


def _best_edge(
    order: list[int],
    sums: tuple[list[int], list[float], list[float], list[float], list[float]],
    totals: tuple[int, float, float, float],
    score: CutScore,
) -> tuple[Rank, int]:
    """The best tree edge to cut (named by its lower node) and its rank."""
    sh, sa, sp, sd, sl = sums
    h_tot, a_tot, p_tot, i_tot = totals
    best: tuple[Rank, int] | None = None
    for x in order[1:]:
        h1, a1, i1 = sh[x], sa[x], sl[x]
        cut_w = sd[x] - 2.0 * i1
        p1 = sp[x] - 2.0 * i1
        p2 = (p_tot - sp[x]) - 2.0 * (i_tot - i1 - cut_w)
        rank = score(h1, a1, p1, h_tot - h1, a_tot - a1, p2)
        if best is None or rank < best[0]:
            best = (rank, x)
    assert best is not None  # a spanning tree of two or more nodes has an edge
    return best


def random_spanning_tree(
    m: int, eu: list[int], ev: list[int], rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Random spanning tree of nodes ``0..m-1`` (Kruskal on random edge keys).

    Returns the parent of every node (``-1`` for the root, and for nodes the tree does not
    reach) and the nodes in breadth-first order from a random root.
    """
    uf = list(range(m))

    def find(x: int) -> int:
        while uf[x] != x:
            uf[x] = uf[uf[x]]
            x = uf[x]
        return x

    adj: list[list[int]] = [[] for _ in range(m)]
    for e in np.argsort(rng.random(len(eu))).tolist():
        a, b = eu[e], ev[e]
        ra, rb = find(a), find(b)
        if ra != rb:
            uf[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
    root = int(rng.integers(m))
    parent = [-1] * m
    parent[root] = root
    order = [root]
    for x in order:
        for y in adj[x]:
            if parent[y] == -1:
                parent[y] = x
                order.append(y)
    parent[root] = -1
    return parent, order
