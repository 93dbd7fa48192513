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
from gis.store.addresses import RowRequest

ROW_LIMIT: Final = 20
NAME_LIMIT: Final = 4
NAME_CACHE: Final = 200_000


class AddressSearch(Protocol):
    """The indexed reads a registry offers the matcher (see :mod:`gis.store.addresses`)."""

    def rows_by_body(self, bodies: Sequence[str]) -> list[Row]:
        """Rows whose exact key (``k_body``) is one of ``bodies``."""
        ...

    def name_ids(self, names: Sequence[str]) -> dict[str, int]:
        """Ids of the road/compound names spelled exactly so."""
        ...

    def similar_names(self, names: Sequence[str], limit: int) -> dict[str, list[tuple[int, str]]]:
        """Per name, the names sharing trigrams with it (index candidates, best first)."""
        ...

    def rows_at(self, requests: Sequence[RowRequest], limit: int) -> list[list[Row]]:
        """Per request, the rows at its road/compound ids (and door) with its numbers."""
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

    def name_candidates(self, names: Iterable[str]) -> dict[str, list[int]]:
        """Ids of the names spelled so or like them (two indexed reads for all the names not
        seen yet; cached per matcher)."""
        wanted = set(names)
        fresh = sorted(n for n in wanted if n not in self._names)
        if fresh:
            if len(self._names) + len(fresh) > NAME_CACHE:
                self._names.clear()
            exact = self.search.name_ids(fresh)
            for name, i in exact.items():
                self._names[name] = [i]
            others = [n for n in fresh if n not in exact]
            for name, found in self.search.similar_names(others, 50).items():
                scored = sorted(((name_similarity(name, o), i) for i, o in found), reverse=True)
                self._names[name] = [i for s, i in scored[:NAME_LIMIT] if s >= SIMILAR]
        return {n: self._names.get(n, []) for n in wanted}

    def _requests(self, parts: AddressParts, ids: dict[str, list[int]]) -> list[list[RowRequest]]:
        """The reads for one query: per name (road at its door, compound), its relaxations."""
        plans: list[tuple[str, list[int], str | None]] = []
        if parts.road and ids[parts.road] and (parts.door or not parts.place):
            plans.append(("road", ids[parts.road], parts.door or None))
        if parts.place and ids[parts.place]:
            plans.append(("place", ids[parts.place], None))
        return [
            [RowRequest(column, tuple(found), door, numbers) for numbers in _relaxations(parts)]
            for column, found, door in plans
        ]

    def _rows(self, queries: Sequence[AddressParts]) -> list[list[Row]]:
        """The candidate rows of many parsed queries, by names then numbers, in rounds: each
        round one batch of reads, the next relaxing the finest number of the reads that found
        nothing."""
        ids = self.name_candidates(n for p in queries for n in (p.road, p.place) if n)
        ladders = [self._requests(p, ids) for p in queries]
        found: dict[tuple[int, int], list[Row]] = {}
        pending = [(q, k, 0) for q, plans in enumerate(ladders) for k in range(len(plans))]
        while pending:
            results = self.search.rows_at([ladders[q][k][s] for q, k, s in pending], ROW_LIMIT)
            after = []
            for (q, k, s), got in zip(pending, results, strict=True):
                if got:
                    found[q, k] = got
                elif s + 1 < len(ladders[q][k]):
                    after.append((q, k, s + 1))
            pending = after
        out: list[list[Row]] = []
        for q, plans in enumerate(ladders):
            merged: dict[int, Row] = {}
            for k in range(len(plans)):
                merged.update((r["id"], r) for r in found.get((q, k), []))
            out.append(list(merged.values()))
        return out

    def lookup(self, query: str) -> AddressMatch:
        """The answer for one free-text address.

        Raises
        ------
        AddressError
            When the query is empty once normalised.
        """
        return self.lookup_many([query])[0]

    def lookup_many(self, queries: Iterable[str]) -> list[AddressMatch]:
        """Answers for many addresses, in a few indexed reads for them all: the exact keys,
        the names, then the rows at those names (:meth:`_rows`). One query is a batch of one,
        so a query gets the same answer alone or in a batch."""
        items = [str(q) for q in queries]
        normals = [normalize_address(q) for q in items]
        for q, normal in zip(items, normals, strict=True):
            if not normal:
                raise AddressError(f"address query {q!r} is empty once normalised")
        parsed = [parse_address(normal, normalized=True) for normal in normals]
        bodies = sorted({p.body for p in parsed if p.body})
        by_body: dict[str, list[Row]] = {}
        for row in self.search.rows_by_body(bodies) if bodies else []:
            by_body.setdefault(str(row["body"]), []).append(row)
        exact = [by_body.get(p.body, []) for p in parsed]
        rows = list(exact)
        search = [i for i, p in enumerate(parsed) if not exact[i] and p.body]
        for i, found in zip(search, self._rows([parsed[i] for i in search]), strict=True):
            rows[i] = found
        answers = [
            classify([compare(p, r) for r in found]) for p, found in zip(parsed, rows, strict=True)
        ]
        # the exact key agreed but the prefix did not: look wider, by names and numbers
        wider = [i for i, a in enumerate(answers) if a[0] == "none" and exact[i]]
        for i, more in zip(wider, self._rows([parsed[i] for i in wider]), strict=True):
            ranked = {int(c.row["id"]): c for c in answers[i][1]}
            ranked.update((int(r["id"]), compare(parsed[i], r)) for r in more)
            answers[i] = classify(list(ranked.values()))
        return [
            AddressMatch(q, normal, p, match, ordered, n)
            for q, normal, p, (match, ordered, n) in zip(
                items, normals, parsed, answers, strict=True
            )
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
