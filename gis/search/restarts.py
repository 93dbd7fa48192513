"""How many fresh searches a component of a unit gets, and which plan is kept.

A search (:class:`gis.search.local._Search`) from one seed can settle in a poor plan; small
components are cheap to search again. A component first gets restarts (other seeds, one grid
more or fewer) while its plan misses the band by more than its unsplittable atoms force, then
polishing searches ranked per grid (:func:`per_grid`), more of them the smaller it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from gis.search.tree_cut import Rank, better

#: Restarts are spent only on components up to this many atoms (large ones rarely gain).
RESTART_MAX_ATOMS = 1_000
#: Extra searches (as many grids, one fewer, as many, one more, in turn), kept when they rank
#: better per grid, for components of at most :data:`POLISH_MAX_ATOMS` atoms; a plan of at most
#: :data:`POLISH_FEW_GRIDS` grids (a campus, a village: cheap, and each grid weighs much on the
#: plan) gets :data:`POLISH_FEW_FACTOR` times as many. Mean PP over seeds 0-5, before (4
#: searches of as many grids, ranked in sum) and after: Beijing's campus (118 atoms, 4-5 grids)
#: 0.598 and 0.663 (0.639 without the extra searches), Shanghai 0.612 and 0.620, holdouts
#: puxi_west 0.629 and 0.633, lujiazui_south 0.411 and 0.452, SYNTHETIC 1,000 blocks 0.661
#: and 0.658. Summed shape terms favoured fewer, larger grids: the SYNTHETIC lattice's grids
#: held 581 households on average, 500 (the target) since. Giving all of its units (about 20
#: grids each) the extra searches made it 2.6 times as slow.
POLISH_RESTARTS = 4
POLISH_MAX_ATOMS = 400
POLISH_FEW_GRIDS = 8
POLISH_FEW_FACTOR = 3


class Search(Protocol):
    """What a search of one component offers (:class:`gis.search.local._Search`)."""

    @property
    def restarts(self) -> int:
        """Restarts allowed (the search options')."""
        ...

    def run(self, k: int) -> None:
        """Search a plan of ``k`` grids."""

    def violation(self) -> int:
        """Households outside the band, summed over grids."""
        ...

    def cost(self) -> Rank:
        """The plan's rank."""
        ...

    def n_grids(self) -> int:
        """Grids of the plan."""
        ...


S = TypeVar("S", bound=Search)


def best_search(fresh: Callable[[], S], k: int, n_atoms: int, *, feasible: bool, floor: int) -> S:
    """Search one component with ``k`` grids; restart (other seeds, one grid more or less)
    while the band is missed by more than ``floor``; polish (other seeds, as many grids or one
    more or fewer, ranked by :func:`per_grid`)."""
    search = fresh()
    search.run(min(k, n_atoms))
    tries = search.restarts if n_atoms <= RESTART_MAX_ATOMS else 0
    for retry in range(tries):
        if not feasible or search.violation() <= floor:
            break
        other = fresh()
        other.run(min(max(1, k + (0, -1, 1)[retry % 3]), n_atoms))
        if better(other.cost(), search.cost()):
            search = other
    n = search.n_grids()
    polish = POLISH_RESTARTS if n_atoms <= POLISH_MAX_ATOMS and n > 1 else 0
    polish *= POLISH_FEW_FACTOR if n <= POLISH_FEW_GRIDS else 1
    for i in range(polish):
        other = fresh()
        other.run(min(max(2, n + (0, -1, 0, 1)[i % 4]), n_atoms))
        if better(per_grid(other), per_grid(search)):
            search = other
    return search


def per_grid(search: Search) -> Rank:
    """A plan's rank with its rest cost per grid, so that plans of different numbers of grids
    compare (summed, the shape terms favour fewer, larger grids)."""
    violation, rest = search.cost()
    return violation, rest / max(1, search.n_grids())
