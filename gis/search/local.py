"""The partition search: contiguous groups of atoms inside a household band.

Works on plain arrays (no geometry): households, area and *effective perimeter* per atom and
weighted adjacency, so every move is evaluated incrementally in O(degree) time.

Plans are ranked lexicographically: first the households outside the band summed over grids
(``violation``), then a weighted sum of the squared relative distance from the target and a
shape term ``P / (2 sqrt(pi A)) - 1`` (0 for a disc; ``1 / sqrt(Polsby-Popper) - 1``), where
``P`` is the grid's effective perimeter: its boundary length with boundaries off the streets
counted extra (see :mod:`gis.cutting.atoms`).

Steps, per connected component of a unit's atoms:

1. choose the number of grids ``k`` (≈ total / target, bounded so the band can be met);
2. seed with METIS k-way (contiguous) and make every part connected;
3. local search: move boundary atoms to a neighbouring grid when the plan improves and the
   donor grid stays connected;
4. recombination: merge two neighbouring grids, draw random spanning trees over their atoms
   and cut the tree edge giving the best pair (both sides are connected by construction);
   grids above the band are split the same way, grids below it merged into a neighbour;
5. repeat 3–4 until nothing improves (bounded number of rounds; no wall-clock limits, so the
   same seed gives the same plan).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.search.band import choose_k, grid_reason
from gis.search.restarts import best_search
from gis.search.seeding import metis_parts
from gis.search.tree_cut import RANK_EPS, CutScore, Rank, best_tree_cut, better

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOptions:
    """Knobs of the partition search.

    Attributes
    ----------
    min_households, max_households, target
        The household band and the preferred grid size.
    dev_weight
        Weight of the squared relative distance from the target.
    shape_weight
        Weight of the shape (compactness and street-following) term.
    max_passes
        Local-search passes per round (a pass visits every atom once).
    rounds
        Recombination rounds.
    trees
        Random spanning trees drawn per recombination.
    restarts
        Fresh searches (new seed, k, k - 1 or k + 1 grids) for a component (of at most
        :data:`~gis.search.restarts.RESTART_MAX_ATOMS` atoms) whose plan still misses the
        band by more than its unsplittable atoms force.
    """

    min_households: int
    max_households: int
    target: int
    dev_weight: float = 1.0
    shape_weight: float = 1.0
    max_passes: int = 40
    rounds: int = 6
    trees: int = 3
    restarts: int = 6


@dataclass(frozen=True)
class SearchResult:
    """Grid label per atom (0..k-1) and a reason code per grid outside the band."""

    labels: npt.NDArray[np.int64]
    reasons: dict[int, str]


def search_partition(
    households: npt.ArrayLike,
    area_m2: npt.ArrayLike,
    perimeter_m: npt.ArrayLike,
    edges: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    *,
    options: SearchOptions,
    heavy_reason: dict[int, str] | None = None,
    groups: npt.ArrayLike | None = None,
    rng: np.random.Generator,
) -> SearchResult:
    """Partition the atoms of one unit into contiguous grids in the household band.

    Parameters
    ----------
    households, area_m2, perimeter_m
        Per atom: households, area (m²) and effective perimeter (m, off-street boundary
        already weighted up).
    edges
        ``(u, v, w)``: atom pairs that share a boundary and its effective length (m).
    options
        Band, target and search effort.
    heavy_reason
        Reason code for atoms above the maximum (e.g. a single building).
    groups
        Per atom, a group id (or -1): atoms of one group start in the same grid (the compact
        regions of a split block, see :mod:`gis.cutting.guillotine`); the search may still move
        them.
    rng
        Source of randomness.

    Returns
    -------
    SearchResult
    """
    h = np.asarray(households, dtype=np.int64)
    n = len(h)
    labels = np.full(n, -1, dtype=np.int64)
    reasons: dict[int, str] = {}
    if n == 0:
        return SearchResult(labels, reasons)
    u = np.asarray(edges[0], dtype=np.int64)
    v = np.asarray(edges[1], dtype=np.int64)
    w = np.asarray(edges[2], dtype=np.float64)
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    nbw: list[list[float]] = [[] for _ in range(n)]
    for a, b, x in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
        nbrs[a].append(b)
        nbw[a].append(x)
        nbrs[b].append(a)
        nbw[b].append(x)
    area = np.asarray(area_m2, dtype=np.float64)
    peff = np.asarray(perimeter_m, dtype=np.float64)
    heavy_reason = heavy_reason or {}
    grp = np.full(n, -1, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    next_label = 0
    for c in range(n_comp):
        idx = np.flatnonzero(comp == c)
        local = {int(a): i for i, a in enumerate(idx.tolist())}
        lnbrs = [[local[j] for j in nbrs[a]] for a in idx.tolist()]
        lnbw = [list(nbw[a]) for a in idx.tolist()]
        total = int(h[idx].sum())
        heavy = [int(x) for x in h[idx] if x > options.max_households]
        if total < options.min_households or len(idx) == 1:
            k, feasible = 1, total >= options.min_households
        else:
            k, feasible = choose_k(total, heavy, options)
        # every search of this component (first, restarts, polish) starts from the same data;
        # the band is missed by no less than what the atoms above the maximum force
        fresh = partial(_Search, h[idx], area[idx], peff[idx], lnbrs, lnbw, options, rng, grp[idx])
        floor = sum(x - options.max_households for x in heavy)
        search = best_search(fresh, k, len(idx), feasible=feasible, floor=floor)
        for g, atoms in enumerate(search.grids()):
            gid = next_label + g
            labels[idx[atoms]] = gid
            hh = int(h[idx[atoms]].sum())
            if options.min_households <= hh <= options.max_households:
                continue
            reasons[gid] = grid_reason(
                hh, idx[atoms], total, feasible, n_comp, h, heavy_reason, options, nbrs
            )
        next_label = int(labels.max()) + 1
    return SearchResult(labels, reasons)


class _Search:
    """Search state of one connected component (local atom indices)."""

    def __init__(
        self,
        h: npt.NDArray[np.int64],
        area: npt.NDArray[np.float64],
        peff: npt.NDArray[np.float64],
        nbrs: list[list[int]],
        nbw: list[list[float]],
        options: SearchOptions,
        rng: np.random.Generator,
        groups: npt.NDArray[np.int64] | None = None,
    ) -> None:
        self.n = len(h)
        # seeding works on groups (an atom without a group is its own)
        g = np.full(self.n, -1, dtype=np.int64) if groups is None else groups
        _, node = np.unique(np.where(g >= 0, g, -1 - np.arange(self.n)), return_inverse=True)
        self.node: list[int] = node.tolist()
        self.n_nodes = int(node.max()) + 1 if self.n else 0
        self.h = h.tolist()
        self.area = area.tolist()
        self.peff = peff.tolist()
        self.nbrs = nbrs
        self.nbw = nbw
        self.o = options
        self.rng = rng
        self.lab: list[int] = [0] * self.n
        self.members: list[set[int]] = []
        self.H: list[int] = []
        self.A: list[float] = []
        self.P: list[float] = []
        self.R: list[float] = []
        self.cut_rank = self._cut_rank()

    # -- cost -----------------------------------------------------------------------------
    def viol(self, hh: int) -> int:
        if hh < self.o.min_households:
            return self.o.min_households - hh
        if hh > self.o.max_households:
            return hh - self.o.max_households
        return 0

    def rest(self, hh: int, area: float, perim: float) -> float:
        dev = (hh - self.o.target) / self.o.target if self.o.target > 0 else 0.0
        shape = perim / (2.0 * math.sqrt(math.pi * area)) - 1.0 if area > 0 else 0.0
        return self.o.dev_weight * dev * dev + self.o.shape_weight * shape

    def _cut_rank(self) -> CutScore:
        """Rank of a plan's two grids, ``viol`` and ``rest`` summed over both.

        Written out, not calling them: tree cuts rank some two million pairs on a city of
        500,000 households, and the calls were a quarter of the search. Every value equals
        theirs, computed in the same order (``tests/gis/test_partition.py`` checks).
        """
        lo, hi, target = self.o.min_households, self.o.max_households, self.o.target
        dev_w, shape_w, sqrt, pi = self.o.dev_weight, self.o.shape_weight, math.sqrt, math.pi

        def cut_rank(h1: int, a1: float, p1: float, h2: int, a2: float, p2: float) -> Rank:
            v1 = lo - h1 if h1 < lo else (h1 - hi if h1 > hi else 0)
            v2 = lo - h2 if h2 < lo else (h2 - hi if h2 > hi else 0)
            d1 = (h1 - target) / target if target > 0 else 0.0
            d2 = (h2 - target) / target if target > 0 else 0.0
            s1 = p1 / (2.0 * sqrt(pi * a1)) - 1.0 if a1 > 0 else 0.0
            s2 = p2 / (2.0 * sqrt(pi * a2)) - 1.0 if a2 > 0 else 0.0
            return v1 + v2, (dev_w * d1 * d1 + shape_w * s1) + (dev_w * d2 * d2 + shape_w * s2)

        return cut_rank

    # -- state ----------------------------------------------------------------------------
    def _set_labels(self, labels: list[int]) -> None:
        k = max(labels) + 1
        self.lab = list(labels)
        self.members = [set() for _ in range(k)]
        for a, g in enumerate(labels):
            self.members[g].add(a)
        self.H, self.A, self.P, self.R = [], [], [], []
        for g in range(k):
            self._new_grid_stats(g)

    def _new_grid_stats(self, g: int) -> None:
        hh, ar, pe = self._stats(self.members[g])
        while len(self.H) <= g:
            self.H.append(0)
            self.A.append(0.0)
            self.P.append(0.0)
            self.R.append(0.0)
        self.H[g], self.A[g], self.P[g] = hh, ar, pe
        self.R[g] = self.rest(hh, ar, pe) if self.members[g] else 0.0

    def _stats(self, atoms: set[int]) -> tuple[int, float, float]:
        hh = sum(self.h[a] for a in atoms)
        ar = sum(self.area[a] for a in atoms)
        inner = 0.0
        for a in atoms:
            for j, x in zip(self.nbrs[a], self.nbw[a], strict=True):
                if j in atoms:
                    inner += x
        pe = sum(self.peff[a] for a in atoms) - inner  # each inner edge seen twice
        return hh, ar, pe

    def violation(self) -> int:
        """Households outside the band, summed over grids."""
        return sum(self.viol(self.H[g]) for g, m in enumerate(self.members) if m)

    def cost(self) -> tuple[int, float]:
        """The plan's rank: (violation, rest)."""
        rest = sum(self.R[g] for g, m in enumerate(self.members) if m)
        return self.violation(), rest

    @property
    def restarts(self) -> int:
        return self.o.restarts

    def n_grids(self) -> int:
        return sum(1 for m in self.members if m)

    def grids(self) -> list[npt.NDArray[np.int64]]:
        """Atoms of each non-empty grid, grids ordered by their lowest atom."""
        groups = [sorted(m) for m in self.members if m]
        groups.sort(key=lambda m: m[0])
        return [np.asarray(m, dtype=np.int64) for m in groups]

    # -- driver ---------------------------------------------------------------------------
    def run(self, k: int) -> None:
        """Seed ``k`` grids and improve them."""
        self._set_labels(self._seed(k))
        self._make_connected()
        if len(self.members) <= 1 and self.viol(self.H[0]) == 0:
            return
        self.local_search()
        for _ in range(self.o.rounds):
            changed = self.repair()
            changed |= self.recombine_round()
            changed |= self.local_search()
            if not changed:
                break

    def _seed(self, k: int) -> list[int]:
        if k <= 1:
            return [0] * self.n
        if k >= self.n:
            return list(range(self.n))
        # groups (a compound's faces) seed grids only if there are two or more per grid: with
        # fewer, METIS could not bisect them (and said so 30 times on a street-less area)
        # and the grids came out less compact (mean Polsby-Popper 0.589, with atoms 0.614)
        node, n_nodes = (
            (self.node, self.n_nodes)
            if 2 * k <= self.n_nodes or self.n_nodes == self.n
            else (list(range(self.n)), self.n)
        )
        seed = int(self.rng.integers(2**31 - 1))
        parts = metis_parts(node, n_nodes, self.h, self.nbrs, self.nbw, k, seed)
        if parts is None:  # METIS refuses some tiny or odd graphs: bisect by spanning trees
            return self._seed_by_bisection(k)
        return parts

    def _seed_by_bisection(self, k: int) -> list[int]:
        self._set_labels([0] * self.n)
        for _ in range(k - 1):
            g = max(range(len(self.members)), key=lambda x: (self.H[x], -x))
            cut = self._best_cut(self.members[g], 2 * self.o.trees, bisect=True)
            if cut is None:
                break
            self._apply_split(g, cut[1])
        return list(self.lab)

    def _make_connected(self) -> None:
        """Give each connected piece of a grid its own label (METIS may disconnect parts)."""
        labels = list(self.lab)
        next_label = max(labels) + 1
        seen = [False] * self.n
        firsts: set[int] = set()
        for a in range(self.n):
            if seen[a]:
                continue
            g = labels[a]
            new = g if g not in firsts else next_label
            if new != g:
                next_label += 1
            firsts.add(g)
            queue = deque([a])
            seen[a] = True
            while queue:
                x = queue.popleft()
                labels[x] = new
                for j in self.nbrs[x]:
                    if not seen[j] and self.lab[j] == g:
                        seen[j] = True
                        queue.append(j)
        # compact labels (METIS may leave parts empty)
        remap = {g: i for i, g in enumerate(dict.fromkeys(labels))}
        self._set_labels([remap[g] for g in labels])

    # -- local search ---------------------------------------------------------------------
    def _connected_without(self, g: int, v: int) -> bool:
        grid = self.members[g]
        inside = [j for j in self.nbrs[v] if j in grid]
        if len(inside) <= 1:
            return len(grid) > 1
        start = inside[0]
        targets = set(inside)
        targets.discard(start)
        seen = {v, start}
        stack = [start]
        while stack and targets:
            x = stack.pop()
            for j in self.nbrs[x]:
                if j not in seen and j in grid:
                    seen.add(j)
                    targets.discard(j)
                    stack.append(j)
        return not targets

    def local_search(self) -> bool:
        """Greedy boundary moves until no move improves the plan; True if any was made."""
        any_move = False
        for _ in range(self.o.max_passes):
            moved = 0
            for v in self.rng.permutation(self.n).tolist():
                moved += self._try_move(v)
            any_move |= moved > 0
            if moved == 0:
                break
        return any_move

    def _try_move(self, v: int) -> bool:
        """Move atom ``v`` to the neighbouring grid that improves the plan most, if any does."""
        lab, h, area, peff = self.lab, self.h, self.area, self.peff
        a = lab[v]
        if len(self.members[a]) == 1:
            return False
        nbrs = self.nbrs[v]
        for j in nbrs:  # most atoms lie inside their grid: nowhere to move
            if lab[j] != a:
                break
        else:
            return False
        wsum: dict[int, float] = {}
        for j, x in zip(nbrs, self.nbw[v], strict=True):
            g = lab[j]
            wsum[g] = wsum.get(g, 0.0) + x
        ha, hv = self.H[a], h[v]
        na_h, na_a = ha - hv, self.A[a] - area[v]
        na_p = self.P[a] - peff[v] + 2.0 * wsum.get(a, 0.0)
        dv_a = self.viol(na_h) - self.viol(ha)
        dr_a = self.rest(na_h, na_a, na_p) - self.R[a]
        best: tuple[int, float, int, float] | None = None
        for b, wb in wsum.items():
            if b == a:
                continue
            nb_h = self.H[b] + hv
            nb_p = self.P[b] + peff[v] - 2.0 * wb
            dv = dv_a + self.viol(nb_h) - self.viol(self.H[b])
            dr = dr_a + self.rest(nb_h, self.A[b] + area[v], nb_p) - self.R[b]
            if (dv < 0 or (dv == 0 and dr < -RANK_EPS)) and (
                best is None or (dv, dr) < (best[0], best[1])
            ):
                best = (dv, dr, b, nb_p)
        if best is None or not self._connected_without(a, v):
            return False
        b = best[2]
        lab[v] = b
        self.members[a].discard(v)
        self.members[b].add(v)
        self.H[a], self.A[a], self.P[a] = na_h, na_a, na_p
        self.R[a] = self.rest(na_h, na_a, na_p)
        self.H[b] += hv
        self.A[b] += area[v]
        self.P[b] = best[3]
        self.R[b] = self.rest(self.H[b], self.A[b], self.P[b])
        return True

    # -- recombination --------------------------------------------------------------------
    def _grid_pairs(self) -> list[tuple[int, int]]:
        pairs: set[tuple[int, int]] = set()
        for a in range(self.n):
            ga = self.lab[a]
            for j in self.nbrs[a]:
                gb = self.lab[j]
                if ga < gb:
                    pairs.add((ga, gb))
        return sorted(pairs)

    def recombine_round(self) -> bool:
        """Try a recombination on every pair of neighbouring grids, worst pairs first."""
        pairs = self._grid_pairs()
        if not pairs:
            return False
        order = self.rng.permutation(len(pairs)).tolist()
        pairs = [pairs[i] for i in order]
        pairs.sort(key=lambda p: -(self.viol(self.H[p[0]]) + self.viol(self.H[p[1]])))
        changed = False
        touched: set[int] = set()
        for ga, gb in pairs:
            if ga in touched and gb in touched:
                continue  # both already rebuilt this round
            if self._recombine(ga, gb):
                touched.update((ga, gb))
                changed = True
        return changed

    def _recombine(self, ga: int, gb: int) -> bool:
        atoms = self.members[ga] | self.members[gb]
        if len(atoms) < 2:
            return False
        cur = (self.viol(self.H[ga]) + self.viol(self.H[gb]), self.R[ga] + self.R[gb])
        cut = self._best_cut(atoms, self.o.trees)
        if cut is None or not better(cut[0], cur):
            return False
        side = cut[1]
        for a in atoms:
            self.lab[a] = ga if a in side else gb
        self.members[ga] = set(side)
        self.members[gb] = atoms - side
        self._new_grid_stats(ga)
        self._new_grid_stats(gb)
        return True

    def _best_cut(
        self, atoms: set[int], n_trees: int, *, bisect: bool = False
    ) -> tuple[tuple[int, float], set[int]] | None:
        """Best split of connected ``atoms`` in two (see :func:`gis.search.tree_cut.best_tree_cut`).

        Cuts are ranked like plans; with ``bisect`` by the imbalance between the halves
        (used for seeding).
        """

        def balance(h1: int, a1: float, p1: float, h2: int, a2: float, p2: float) -> Rank:
            return abs(h1 - h2), 0.0

        return best_tree_cut(
            sorted(atoms),
            self.nbrs,
            self.nbw,
            (self.h, self.area, self.peff),
            balance if bisect else self.cut_rank,
            band=None if bisect else (self.o.min_households, self.o.max_households),
            n_trees=n_trees,
            rng=self.rng,
        )

    # -- repairs that change the number of grids ------------------------------------------
    def repair(self) -> bool:
        """Split grids above the band and merge grids below it when that lowers violation."""
        changed = False
        for g in range(len(self.members)):
            if not self.members[g] or self.H[g] <= self.o.max_households:
                continue
            cut = self._best_cut(self.members[g], 2 * self.o.trees)
            if cut is not None and cut[0][0] < self.viol(self.H[g]):
                self._apply_split(g, cut[1])
                changed = True
        for g in range(len(self.members)):
            if not self.members[g] or self.H[g] >= self.o.min_households:
                continue
            changed |= self._merge_into_neighbour(g)
        return changed

    def _apply_split(self, g: int, side: set[int]) -> None:
        new = len(self.members)
        self.members.append(set(side))
        self.members[g] -= side
        for a in side:
            self.lab[a] = new
        self._new_grid_stats(g)
        self._new_grid_stats(new)

    def _merge_into_neighbour(self, g: int) -> bool:
        shared: dict[int, float] = {}
        for a in self.members[g]:
            for j, x in zip(self.nbrs[a], self.nbw[a], strict=True):
                b = self.lab[j]
                if b != g:
                    shared[b] = shared.get(b, 0.0) + x
        best: tuple[int, float, int] | None = None
        for b, x in sorted(shared.items()):
            hh = self.H[g] + self.H[b]
            dv = self.viol(hh) - self.viol(self.H[g]) - self.viol(self.H[b])
            rest = self.rest(hh, self.A[g] + self.A[b], self.P[g] + self.P[b] - 2.0 * x)
            dr = rest - self.R[g] - self.R[b]
            if dv < 0 and (best is None or (dv, dr) < (best[0], best[1])):
                best = (dv, dr, b)
        if best is None:
            return False
        b = best[2]
        for a in self.members[g]:
            self.lab[a] = b
        self.members[b] |= self.members[g]
        self.members[g] = set()
        self._new_grid_stats(b)
        self._new_grid_stats(g)
        return True
