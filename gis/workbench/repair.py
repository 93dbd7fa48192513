"""The repair search of dynamic adjustment: the cheapest change that restores the band.

Inside a region of grids (:func:`gis.workbench.adjust.adjust` picks it) candidates are ranked
by households still outside the band beyond what each grid was allowed, then households moved,
then atoms moved: boundary-atom moves and chains of them (a beam search), re-cuts of a pair of
grids that keep most households in place, and only when the band is still not restored a
fresh partition of what is still out of band, then of the whole region.
"""

from __future__ import annotations

import logging
from collections import deque

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import columns as col
from gis.search.local import SearchOptions
from gis.search.tree_cut import CutScore, best_tree_cut
from gis.workbench.edit import search_region
from gis.workbench.plan_graph import components, match_labels

log = logging.getLogger(__name__)

#: Steps (single-atom moves) of the repair's beam search.
BEAM_DEPTH = 8
#: Plans kept at each step of the repair's beam search.
BEAM_WIDTH = 48
#: Most empty atoms moved along with one atom with households to reach a border.
MAX_CHAIN = 8
#: Random spanning trees drawn when re-cutting a pair of grids.
PAIR_TREES = 64


def excess_of(h: int, band: SearchOptions) -> int:
    """Households of a grid of ``h`` outside the band."""
    return max(band.min_households - h, 0, h - band.max_households)


def repair_region(
    atoms: gpd.GeoDataFrame,
    edges: pd.DataFrame,
    labels: np.ndarray,
    region: list[int],
    nbrs: list[dict[int, float]],
    band: SearchOptions,
    rng: np.random.Generator,
    allow: dict[int, int],
    first_free: int,
) -> np.ndarray:
    """The cheapest repair found inside ``region``: minimal moves first, a fresh search last.

    Candidates are ranked by households still outside the band beyond what each grid was
    allowed (``allow``: its violation before the change), then households moved, then atoms
    moved. In order: boundary-atom moves and chains of them (a beam search), a re-cut of a
    pair of grids keeping most households in place followed by more moves, and only when
    the band is still not restored, a fresh partition of the region.
    """
    hh = atoms[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    rset = set(region)
    repair = _Repair(labels, rset, nbrs, hh, band, allow, edges, first_free)
    best = repair.beam(labels)
    for start in (labels, best):
        lab = start
        for _ in range(3):
            if repair.cost(lab)[0] == 0:
                break
            recut = repair.beam(_recut_pairs(lab, repair, rng))
            if repair.cost(recut) >= repair.cost(lab):
                break
            lab = recut
        if repair.cost(lab) < repair.cost(best):
            best = lab
    if repair.cost(best)[0] > 0:
        # a fresh partition of what is still out of band and its neighbours only
        local = _fresh(atoms, best, _still_bad(best, repair), repair, rng)
        if repair.cost(local) < repair.cost(best):
            best = local
    if repair.cost(best)[0] > 0:
        fresh = _fresh(atoms, labels, set(region), repair, rng)
        if repair.cost(fresh) < repair.cost(best):
            best = fresh
    log.info("repair: %s (excess, households moved, atoms moved)", repair.cost(best))
    return best


def _still_bad(lab: np.ndarray, repair: _Repair) -> set[int]:
    """Region grids of ``lab`` still in excess and their neighbours in the region."""
    total = repair.totals(lab)
    bad = {g for g, x in total.items() if repair.excess(g, x) > 0}
    out = set(bad)
    for a in np.flatnonzero(np.isin(lab, sorted(bad))).tolist():
        out |= {int(lab[b]) for b in repair.nbrs[a]} & repair.region
    return out


def _fresh(
    atoms: gpd.GeoDataFrame,
    lab: np.ndarray,
    grids: set[int],
    repair: _Repair,
    rng: np.random.Generator,
) -> np.ndarray:
    """``lab`` with the atoms of ``grids`` partitioned afresh, then polished by moves."""
    hh = repair.hh
    idx = np.flatnonzero(np.isin(lab, sorted(grids)))
    fresh = lab.copy()
    next_id = max(int(repair.orig.max()), int(lab.max()), repair.first_free - 1) + 1
    units = atoms[col.UNIT_CODE].astype(str).to_numpy()
    for unit in sorted(set(units[idx].tolist())):
        sub = idx[units[idx] == unit]
        local = search_region(atoms, repair.edges, sub, repair.band, rng)
        mapping = match_labels(lab[sub], local, hh[sub].astype(float))
        for x in sorted(set(local.tolist())):
            if x not in mapping:
                mapping[x] = next_id
                next_id += 1
        fresh[sub] = [mapping[int(x)] for x in local]
    return repair.beam(fresh)


class _Repair:
    """Costs and boundary moves of a region being repaired (labels are full-length arrays)."""

    def __init__(
        self,
        labels: np.ndarray,
        region: set[int],
        nbrs: list[dict[int, float]],
        hh: np.ndarray,
        band: SearchOptions,
        allow: dict[int, int],
        edges: pd.DataFrame,
        first_free: int,
    ) -> None:
        self.edges = edges
        self.first_free = first_free  # the lowest grid id no grid of the plan uses
        self.orig = labels
        self.region = region
        self.nbrs = nbrs
        self.hh = hh
        self.band = band
        self.allow = allow
        self.idx = np.flatnonzero(np.isin(labels, sorted(region)))

    def excess(self, g: int, total: int) -> int:
        """Households of grid ``g`` outside the band beyond what it was allowed."""
        return max(excess_of(total, self.band) - self.allow.get(g, 0), 0)

    def totals(self, lab: np.ndarray) -> dict[int, int]:
        """Households of every grid holding region atoms under ``lab``."""
        grids, inverse = np.unique(lab[self.idx], return_inverse=True)
        sums = np.bincount(inverse, weights=self.hh[self.idx].astype(float))
        return {int(g): round(float(x)) for g, x in zip(grids, sums, strict=True)}

    def cost(self, lab: np.ndarray) -> tuple[int, int, int]:
        """(excess over the region, households moved, atoms moved) of ``lab``."""
        idx = self.idx
        moved = lab[idx] != self.orig[idx]
        return (
            sum(self.excess(g, x) for g, x in self.totals(lab).items()),
            int(self.hh[idx][moved].sum()),
            int(moved.sum()),
        )

    def beam(self, start: np.ndarray) -> np.ndarray:
        """Boundary moves from ``start`` (beam search), the cheapest plan reached.

        Each step moves one atom with households (with the empty atoms linking it to the
        border, if any) out of a grid above its allowance or into one below it, to a
        neighbouring region grid, keeping the source connected. Chains (A→B, then B→C or
        back B→A) arise when a move pushes the receiving grid out of band.
        """
        best_lab, best_cost = start, self.cost(start)
        beam: list[tuple[tuple[int, int, int], np.ndarray]] = [(best_cost, start)]
        seen = {start.tobytes()}
        for _ in range(BEAM_DEPTH):
            children: list[tuple[tuple[int, int, int], int, tuple[int, ...], int, np.ndarray]] = []
            for cost, lab in beam:
                if cost[0] == 0:
                    continue
                for piece, dst, child_cost in self._moves(lab, cost):
                    if best_cost[0] == 0 and child_cost[:2] >= best_cost[:2]:
                        continue
                    children.append((child_cost, len(children), piece, dst, lab))
            children.sort(key=lambda c: c[:2])
            beam = []
            for child_cost, _, piece, dst, lab in children:
                new = lab.copy()
                new[list(piece)] = dst
                key = new.tobytes()
                if key in seen:
                    continue
                seen.add(key)
                beam.append((child_cost, new))
                if child_cost < best_cost:
                    best_lab, best_cost = new, child_cost
                if len(beam) >= BEAM_WIDTH:
                    break
            if not beam:
                break
        return best_lab

    def _moves(
        self, lab: np.ndarray, cost: tuple[int, int, int]
    ) -> list[tuple[tuple[int, ...], int, tuple[int, int, int]]]:
        """Candidate moves (atoms, destination, cost after) out of or into grids in excess."""
        total = self.totals(lab)
        pairs: set[tuple[int, int]] = set()
        for g in sorted(total):
            if self.excess(g, total[g]) == 0:
                continue
            give = total[g] > self.band.max_households
            for a in np.flatnonzero(lab == g).tolist():
                for b in self.nbrs[a]:
                    other = int(lab[b])
                    if other != g and other in self.region:
                        pairs.add((g, other) if give else (other, g))
        out: list[tuple[tuple[int, ...], int, tuple[int, int, int]]] = []
        for src, dst in sorted(pairs):
            mine = set(np.flatnonzero(lab == src).tolist())
            for first in self._pieces(lab, src, dst):
                pieces = components(mine - set(first), self.nbrs)
                if not pieces:
                    continue
                # parts cut off from the bulk of the source go along with the piece
                keep = max(pieces, key=lambda c: (int(self.hh[c].sum()), len(c), -c[0]))
                piece = np.array(sorted(mine - set(keep)), dtype=np.int64)
                h = int(self.hh[piece].sum())
                dx = (
                    self.excess(src, total[src] - h)
                    + self.excess(dst, total[dst] + h)
                    - self.excess(src, total[src])
                    - self.excess(dst, total[dst])
                )
                was = self.orig[piece]
                w = self.hh[piece]
                dm = int(w[was != dst].sum()) - int(w[was != src].sum())
                dn = int((was != dst).sum()) - int((was != src).sum())
                cost_after = (cost[0] + dx, cost[1] + dm, cost[2] + dn)
                out.append((tuple(piece.tolist()), dst, cost_after))
        return out

    def _pieces(self, lab: np.ndarray, src: int, dst: int) -> list[tuple[int, ...]]:
        """Atoms of ``src`` that can pass to ``dst``: one with households, then empty ones.

        An atom with households on the border goes alone; one behind empty atoms goes with
        the shortest chain of them (at most :data:`MAX_CHAIN`) that reaches the border.
        """
        mine = set(np.flatnonzero(lab == src).tolist())
        border = sorted(a for a in mine if any(lab[b] == dst for b in self.nbrs[a]))
        chain: dict[int, tuple[int, ...]] = {a: (a,) for a in border if self.hh[a] == 0}
        queue = deque(sorted(chain))
        while queue:
            z = queue.popleft()
            if len(chain[z]) >= MAX_CHAIN:
                continue
            for b in sorted(self.nbrs[z]):
                if b in mine and b not in chain and self.hh[b] == 0:
                    chain[b] = (b, *chain[z])
                    queue.append(b)
        out: list[tuple[int, ...]] = []
        for t in sorted(mine):
            if self.hh[t] == 0:
                continue
            if t in border:
                out.append((t,))
                continue
            via = [chain[z] for z in sorted(self.nbrs[t]) if z in chain]
            if via:
                out.append((t, *min(via, key=len)))
        return out


def _pair_score(repair: _Repair, g: int, other: int) -> CutScore:
    """Rank of a cut of grids ``g`` and ``other``: (excess, households leaving their grid).

    The values of a side are its households, those that were in ``g`` and those that were
    in ``other``; the side keeping more of its households is given that grid's label.
    """

    def score(h1: int, g1: float, o1: float, h2: int, g2: float, o2: float) -> tuple[int, float]:
        if g1 + o2 >= g2 + o1:  # side 1 stays g
            return repair.excess(g, h1) + repair.excess(other, h2), float(h1 + h2 - g1 - o2)
        return repair.excess(other, h1) + repair.excess(g, h2), float(h1 + h2 - g2 - o1)

    return score


def _recut_pairs(labels: np.ndarray, repair: _Repair, rng: np.random.Generator) -> np.ndarray:
    """Re-cut each grid still in excess together with one neighbour (tree cuts).

    Cuts are ranked by the pair's excess, then households that leave their old grid: the
    cut keeping most households where they were wins.
    """
    lab = labels.copy()
    hh, nbrs, orig = repair.hh, repair.nbrs, repair.orig
    nb = [list(d) for d in nbrs]
    nw = [list(d.values()) for d in nbrs]
    for g in sorted(repair.region):
        mine = np.flatnonzero(lab == g)
        if len(mine) == 0 or repair.excess(g, int(hh[mine].sum())) == 0:
            continue
        others = sorted({int(lab[b]) for a in mine.tolist() for b in nbrs[a]} & repair.region - {g})
        best: tuple[tuple[int, float], set[int], int, bool] | None = None
        for other in others:
            pair = np.flatnonzero((lab == g) | (lab == other))
            in_g = np.where(orig == g, hh, 0)
            in_o = np.where(orig == other, hh, 0)
            values = (hh.tolist(), in_g.astype(float).tolist(), in_o.astype(float).tolist())
            now = repair.excess(g, int(hh[mine].sum())) + repair.excess(
                other, int(hh[lab == other].sum())
            )

            cut = best_tree_cut(
                pair.tolist(),
                nb,
                nw,
                values,
                _pair_score(repair, g, other),
                n_trees=PAIR_TREES,
                rng=rng,
            )
            if cut is None or cut[0][0] >= now:
                continue
            if best is None or cut[0] < best[0]:
                side = cut[1]
                g1 = float(hh[[a for a in side if orig[a] == g]].sum())
                o1 = float(hh[[a for a in side if orig[a] == other]].sum())
                rest = set(pair.tolist()) - side
                g2 = float(hh[[a for a in rest if orig[a] == g]].sum())
                o2 = float(hh[[a for a in rest if orig[a] == other]].sum())
                best = (cut[0], side, other, g1 + o2 >= g2 + o1)
        if best is None:
            continue
        _, side, other, side_is_g = best
        for a in np.flatnonzero((lab == g) | (lab == other)).tolist():
            in_side = a in side
            lab[a] = g if in_side == side_is_g else other
    return lab
