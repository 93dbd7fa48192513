"""Restarts and polishing: which of a component's searches is kept."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gis.search import restarts
from gis.search.local import SearchOptions, _Search
from gis.search.restarts import best_search, per_grid

LO, HI = 300, 800


def _lattice(side: int, seed: int) -> tuple[list[int], list[list[int]], list[list[float]]]:
    """A side × side lattice of atoms of random households (a small campus of blocks)."""
    rng = np.random.default_rng(seed)
    nbrs: list[list[int]] = [[] for _ in range(side * side)]
    for r in range(side):
        for c in range(side):
            i = r * side + c
            if c + 1 < side:
                nbrs[i].append(i + 1)
                nbrs[i + 1].append(i)
            if r + 1 < side:
                nbrs[i].append(i + side)
                nbrs[i + side].append(i)
    hh = rng.integers(0, 90, side * side).tolist()
    return hh, nbrs, [[10.0] * len(n) for n in nbrs]


class _Recorded:
    """A real search that records the numbers of grids it was run with."""

    def __init__(self, search: _Search, runs: list[int]) -> None:
        self.search, self.runs = search, runs

    @property
    def restarts(self) -> int:
        return self.search.restarts

    def run(self, k: int) -> None:
        self.runs.append(k)
        self.search.run(k)

    def violation(self) -> int:
        return self.search.violation()

    def cost(self) -> tuple[int, float]:
        return self.search.cost()

    def n_grids(self) -> int:
        return self.search.n_grids()


def _fresh(side: int, seed: int, rng_seed: int, runs: list[int]) -> Callable[[], _Recorded]:
    hh, nbrs, nbw = _lattice(side, seed)
    rng = np.random.default_rng(rng_seed)

    def make() -> _Recorded:
        search = _Search(
            np.asarray(hh),
            np.full(len(hh), 100.0),
            np.full(len(hh), 40.0),
            nbrs,
            nbw,
            SearchOptions(LO, HI, 500),
            rng,
        )
        return _Recorded(search, runs)

    return make


@pytest.mark.parametrize("seed", range(4))
def test_the_kept_plan_ranks_per_grid_no_worse_than_the_first(seed: int) -> None:
    side = 9
    runs: list[int] = []
    first = _fresh(side, seed, rng_seed=seed, runs=runs)()
    hh_total = sum(_lattice(side, seed)[0])
    k = max(2, round(hh_total / 500))
    first.run(k)
    kept = best_search(
        _fresh(side, seed, rng_seed=seed, runs=[]), k, side * side, feasible=True, floor=0
    )
    assert per_grid(kept) <= per_grid(first)
    assert per_grid(kept) == (kept.violation(), kept.cost()[1] / kept.n_grids())


def test_polishing_tries_one_grid_fewer_and_more_and_more_often_for_few_grids() -> None:
    side = 9
    runs: list[int] = []
    k = 4
    # a floor no plan misses the band by more than: no restarts, only polishing
    best_search(_fresh(side, 0, 0, runs), k, side * side, feasible=True, floor=10**9)
    first, polished = runs[0], runs[1:]
    assert first == k
    n = polished[0]  # the first plan's grids (no restarts ran)
    assert n <= restarts.POLISH_FEW_GRIDS
    steps = [0, -1, 0, 1] * restarts.POLISH_FEW_FACTOR
    assert polished == [max(2, n + d) for d in steps]
