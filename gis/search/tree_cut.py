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
#: Rest costs closer than this are equal (float noise of sums taken in another order).
RANK_EPS = 1e-9
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
    band: tuple[int, int] | None = None,
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
    band
        ``(min, max)`` households, when the first term of every rank ``score`` gives is the
        households of both halves outside it: a cut already worse on that term than the best
        one of its tree is then not scored (most cuts of a tree leave a half far too small).

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
        rank, x = _best_edge(parent, order, edges, (hh, ar, pe, deg), totals, score, band)
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


def better(new: Rank, old: Rank) -> bool:
    """Lexicographic improvement: less violation, or as little and a lower rest cost."""
    return new[0] < old[0] or (new[0] == old[0] and new[1] < old[1] - RANK_EPS)


def _local_edges(
    nodes: Sequence[int], nbrs: Sequence[Sequence[int]], nbw: Sequence[Sequence[float]]
) -> tuple[list[int], list[int], list[float], list[float]]:
    """Edges among ``nodes`` (local indices, ``u < v``, weight) and the weighted degree of each."""
    pos = {a: i for i, a in enumerate(nodes)}
    found: list[tuple[int, int, float]] = []
    deg = [0.0] * len(nodes)
    for i, a in enumerate(nodes):
        d = 0.0
        for j, x in zip(nbrs[a], nbw[a], strict=True):
            pj = pos.get(j)
            if pj is not None:
                d += x
                if i < pj:
                    found.append((i, pj, x))
        deg[i] = d
    if not found:
        return [], [], [], deg
    eu, ev, ew = (list(c) for c in zip(*found, strict=True))
    return eu, ev, ew, deg


def _best_edge(
    parent: list[int],
    order: list[int],
    edges: tuple[list[int], list[int], list[float]],
    values: tuple[list[int], list[float], list[float], list[float]],
    totals: tuple[int, float, float, float],
    score: CutScore,
    band: tuple[int, int] | None = None,
) -> tuple[Rank, int]:
    """The best tree edge to cut (named by its lower node) and its rank.

    Per node, sums over its subtree (households, area, perimeter, degree and internal
    weight, that of the edges whose lowest common ancestor lies in it: both ends inside)
    give the two halves a cut leaves; nodes are summed and ranked in one pass, deepest
    first. Ties go to the edge first in breadth-first order. With ``band``, see
    :func:`best_tree_cut`.
    """
    lo, hi = band if band is not None else (0, 0)
    m = len(parent)
    depth = [0] * m
    for x in order[1:]:
        depth[x] = depth[parent[x]] + 1
    sl = [0.0] * m
    for p, q, weight in zip(*edges, strict=True):
        lca, other = p, q
        while lca != other:  # walk up to the lowest common ancestor
            if depth[lca] >= depth[other]:
                lca = parent[lca]
            else:
                other = parent[other]
        sl[lca] += weight
    sh: list[int] = list(values[0])
    sa, sp, sd = list(values[1]), list(values[2]), list(values[3])
    h_tot, a_tot, p_tot, i_tot = totals
    best: tuple[Rank, int] | None = None
    for x in reversed(order[1:]):  # a node's subtree is summed when it is reached
        h1, a1, p_sub, i1 = sh[x], sa[x], sp[x], sl[x]
        h2 = h_tot - h1
        if (
            band is None
            or best is None
            or (lo - h1 if h1 < lo else (h1 - hi if h1 > hi else 0))
            + (lo - h2 if h2 < lo else (h2 - hi if h2 > hi else 0))
            <= best[0][0]
        ):
            cut_w = sd[x] - 2.0 * i1
            p2 = (p_tot - p_sub) - 2.0 * (i_tot - i1 - cut_w)
            rank = score(h1, a1, p_sub - 2.0 * i1, h2, a_tot - a1, p2)
            if best is None or rank <= best[0]:  # <=: the last reached is the first in order
                best = (rank, x)
        p = parent[x]
        sh[p] += h1
        sa[p] += a1
        sp[p] += p_sub
        sd[p] += sd[x]
        sl[p] += i1
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
    adj: list[list[int]] = [[] for _ in range(m)]
    joins = m - 1  # a tree is complete after m - 1 joins: no later edge could join more
    for e in np.argsort(rng.random(len(eu))).tolist():
        if not joins:
            break
        a, b = eu[e], ev[e]
        ra = a  # the roots of both ends, halving the paths on the way (inline: hot loop)
        while uf[ra] != ra:
            uf[ra] = uf[uf[ra]]
            ra = uf[ra]
        rb = b
        while uf[rb] != rb:
            uf[rb] = uf[uf[rb]]
            rb = uf[rb]
        if ra != rb:
            uf[ra] = rb
            joins -= 1
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
