"""Address → standard address, from the store's indexes (no scan of the table per query).

Candidates come from the registry's indexes (:mod:`gis.store.addresses`), then are re-ranked
by their parts (:mod:`gis.serving.addresses.score`):

1. the exact key: the normalised address below its administrative prefix (B-tree);
2. otherwise the road and compound names, spelled exactly or found by trigram similarity
   (PostGIS ``pg_trgm`` GIN, SQLite FTS5 ``trigram``) and re-scored by edit similarity, then
   the rows at those names with the query's door, building, unit and room (composite B-trees),
   relaxing the finest number first when nothing has them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from gis.errors import AddressError
from gis.serving.addresses.parse import AddressParts, parse_address
from gis.serving.addresses.score import SIMILAR, Candidate, Row, classify, compare
from gis.serving.addresses.similarity import name_similarity
from gis.serving.addresses.text import normalize_address

ROW_LIMIT: Final = 20
NAME_LIMIT: Final = 4


class AddressSearch(Protocol):
    """The indexed reads a registry offers the matcher (see :mod:`gis.store.addresses`)."""

    def rows_by_body(self, bodies: Sequence[str]) -> list[Row]:
        """Rows whose exact key (``k_body``) is one of ``bodies``."""
        ...

    def name_ids(self, names: Sequence[str]) -> dict[str, int]:
        """Ids of the road/compound names spelled exactly so."""
        ...

    def similar_names(self, name: str, limit: int) -> list[tuple[int, str]]:
        """Names sharing trigrams with ``name`` (index candidates, best first)."""
        ...

    def rows_at(
        self,
        column: str,
        ids: Sequence[int],
        door: str | None,
        numbers: dict[str, str],
        limit: int,
    ) -> list[Row]:
        """Rows whose ``column`` (``road`` or ``place``) is one of ``ids`` (and door, when
        given), with the ``numbers`` (building, unit, room: '' means none) given."""
        ...


@dataclass
class AddressMatch:
    """The answer to one address query."""

    query: str
    normalized: str
    parts: AddressParts
    match: str
    candidates: list[Candidate]
    n_answer: int = 0
    """How many of the first candidates make the answer (1, the tied ones, or 0 for none)."""

    @property
    def best(self) -> Candidate | None:
        """The answer's address (None for ``none`` and ``ambiguous``)."""
        return self.candidates[0] if self.match in ("exact", "probable") else None

    @property
    def answer(self) -> list[Candidate]:
        """The candidates that make the answer: one for exact/probable, the tied ones for
        ambiguous, none for none."""
        return self.candidates[: self.n_answer]


def _relaxations(parts: AddressParts) -> list[dict[str, str]]:
    """Number filters to try, most specific first: all parts as given ('' = none), then the
    given ones only, then without the room, the unit, the building."""
    given = {k: getattr(parts, k) for k in ("building", "unit", "room") if getattr(parts, k)}
    steps = [{k: getattr(parts, k) for k in ("building", "unit", "room")}, dict(given)]
    for part in ("room", "unit", "building"):
        if part in given:
            given.pop(part)
            steps.append(dict(given))
    out: list[dict[str, str]] = []
    for step in steps:
        if step not in out:
            out.append(step)
    return out


class AddressMatcher:
    """Free-text addresses → standard addresses of one registry.

    Parameters
    ----------
    search
        The registry (its indexed reads, :class:`AddressSearch`).
    """

    def __init__(self, search: AddressSearch) -> None:
        self.search = search
        self._names: dict[str, list[int]] = {}

    def name_candidates(self, name: str) -> list[int]:
        """Ids of the names spelled ``name`` or like it (cached per matcher)."""
        found = self._names.get(name)
        if found is not None:
            return found
        exact = self.search.name_ids([name])
        if exact:
            ids = list(exact.values())
        else:
            scored = [
                (name_similarity(name, other), i)
                for i, other in self.search.similar_names(name, 50)
            ]
            ids = [i for s, i in sorted(scored, reverse=True)[:NAME_LIMIT] if s >= SIMILAR]
        if len(self._names) > 200_000:
            self._names.clear()
        self._names[name] = ids
        return ids

    def _rows(self, parts: AddressParts) -> list[Row]:
        plans: list[tuple[str, list[int], str | None]] = []
        if parts.road:
            ids = self.name_candidates(parts.road)
            if ids and (parts.door or not parts.place):
                plans.append(("road", ids, parts.door or None))
        if parts.place:
            ids = self.name_candidates(parts.place)
            if ids:
                plans.append(("place", ids, None))
        if not plans and parts.door and parts.road:  # the road is unknown: the door alone
            return []
        rows: dict[int, Row] = {}
        for column, ids, door in plans:
            for numbers in _relaxations(parts):
                found = self.search.rows_at(column, ids, door, numbers, ROW_LIMIT)
                if found:
                    rows.update((r["id"], r) for r in found)
                    break
        return list(rows.values())

    def match_parts(self, query: str, parts: AddressParts, exact_rows: list[Row]) -> AddressMatch:
        """The answer for parsed ``parts``, given the rows found by the exact key."""
        rows = exact_rows or (self._rows(parts) if parts.body else [])
        ranked = [compare(parts, r) for r in rows]
        match, ordered, n = classify(ranked)
        if match == "none" and exact_rows:  # the key agreed but the prefix did not: look wider
            wider = {int(c.row["id"]): c for c in ordered}
            wider.update((int(r["id"]), compare(parts, r)) for r in self._rows(parts))
            match, ordered, n = classify(list(wider.values()))
        return AddressMatch(query, normalize_address(query), parts, match, ordered, n)

    def lookup(self, query: str) -> AddressMatch:
        """The answer for one free-text address.

        Raises
        ------
        AddressError
            When the query is empty once normalised.
        """
        return self.lookup_many([query])[0]

    def lookup_many(self, queries: Iterable[str]) -> list[AddressMatch]:
        """Answers for many addresses: exact keys in one indexed read, the rest one by one."""
        items = [str(q) for q in queries]
        parsed = []
        for q in items:
            normal = normalize_address(q)
            if not normal:
                raise AddressError(f"address query {q!r} is empty once normalised")
            parsed.append(parse_address(normal, normalized=True))
        bodies = sorted({p.body for p in parsed if p.body})
        by_body: dict[str, list[Row]] = {}
        for row in self.search.rows_by_body(bodies) if bodies else []:
            by_body.setdefault(str(row["body"]), []).append(row)
        return [
            self.match_parts(q, p, by_body.get(p.body, []))
            for q, p in zip(items, parsed, strict=True)
        ]


def candidate_fields(candidate: Candidate) -> dict[str, Any]:
    """A candidate's row fields shown to callers (the address, its point and its parts)."""
    row = candidate.row
    return {
        "id": int(row["id"]), "address": str(row["address"]),
        "lon": float(row["lon"]), "lat": float(row["lat"]),
        "score": round(candidate.score, 1), "agreed": candidate.agreed + candidate.similar,
        "disagreed": candidate.disagreed, "missing": candidate.missing,
    }  # fmt: skip
