"""Comparing a query's parts with a standard address's, and saying how sure the answer is.

Each part the query gives is compared with the candidate's: names (road, compound) by edit
similarity (a typo still *agrees*, as ``similar``), numbers (door, building, unit, floor,
room) and the administrative prefix by equality. The score (0–100) is the weighted share of
the query's parts that agree; a disagreeing part costs its weight.

The answer (:func:`classify`):

``exact``
    the best candidate agrees on every part the query gives, names spelled the same, it has
    no finer part the query lacks (a unit or room), and no other candidate does as well;
``probable``
    no part disagrees, but a name is only similar (a typo), or the query gives a part the
    table lacks (a room where the table stops at the door), and the next candidate is
    clearly worse;
``ambiguous``
    two or more candidates without a disagreeing part are too close to tell apart (two
    compounds of one name, a query without the room); all of them are returned;
``none``
    every candidate disagrees on some part (a door, building, unit or room number that
    differs is never accepted) or scores too low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gis.serving.addresses.parse import AddressParts
from gis.serving.addresses.similarity import name_similarity

WEIGHTS: Final = {"road": 30.0, "place": 30.0, "door": 25.0, "building": 15.0, "unit": 10.0,
                  "room": 15.0, "floor": 3.0, "extra": 5.0, "admin": 5.0}  # fmt: skip
NUMBERS: Final = ("door", "building", "unit", "room", "extra")
FINER: Final = ("building", "unit", "room")
SIMILAR: Final = 0.6
"""A name at least this similar to the candidate's agrees as a typo (``similar``)."""
ACCEPT: Final = 60.0
"""Lowest score of a ``probable`` answer."""
MARGIN: Final = 10.0
"""A second candidate within this many points of the best makes the answer ``ambiguous``."""

Row = dict[str, Any]


@dataclass
class Candidate:
    """A standard address compared with the query."""

    row: Row
    score: float
    agreed: list[str] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)
    disagreed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Parts the query gives and the standard address lacks."""
    finer: list[str] = field(default_factory=list)
    """Parts below the query's (unit, room…) that the standard address has and the query lacks."""

    @property
    def conflicting(self) -> bool:
        """Whether some part disagrees."""
        return bool(self.disagreed)

    @property
    def exact(self) -> bool:
        """Agrees on every part, spelled the same, nothing finer than asked."""
        return not (self.disagreed or self.similar or self.missing or self.finer)


def _admin_agrees(query: str, row: str) -> bool | None:
    """True/False when both have a prefix (``code/town``), None when one lacks it."""
    if not query or not row:
        return None
    q_codes, _, q_town = query.partition("/")
    r_codes, _, r_town = row.partition("/")
    pairs = [(q, r) for q in q_codes.split(",") for r in r_codes.split(",")]
    fitting = [(q, r) for q, r in pairs if q.startswith(r) or r.startswith(q)]
    if not fitting:
        return False
    if q_town and r_town and all(q == r for q, r in fitting):
        return q_town == r_town
    return True


def _compare_name(part: str, want: str, row: Row, out: Candidate) -> float:
    have = str(row.get(part) or "")
    other = str(row.get("place" if part == "road" else "road") or "")
    if not have and other != want:
        out.missing.append(part)
        return 0.0
    sim = max(name_similarity(want, have), 1.0 if other == want else 0.0)
    if sim == 1.0:
        out.agreed.append(part)
        return WEIGHTS[part]
    if sim >= SIMILAR:
        out.similar.append(part)
        return WEIGHTS[part] * sim
    out.disagreed.append(part)
    return -WEIGHTS[part]


def compare(query: AddressParts, row: Row) -> Candidate:
    """How ``row`` (a standard address's parts) matches ``query``."""
    out = Candidate(row=row, score=0.0)
    total = gained = 0.0
    for part in ("road", "place"):
        want = getattr(query, part)
        if want:
            total += WEIGHTS[part]
            gained += _compare_name(part, want, row, out)
    for part in (*NUMBERS, "floor"):
        want, have = getattr(query, part), str(row.get(part) or "")
        if not want:
            if have and part in FINER:
                out.finer.append(part)
            continue
        total += WEIGHTS[part]
        if not have:
            if part != "floor":
                out.missing.append(part)
        elif have == want:
            out.agreed.append(part)
            gained += WEIGHTS[part]
        else:
            out.disagreed.append(part)
            gained -= WEIGHTS[part]
    admin = _admin_agrees(query.admin, str(row.get("admin") or ""))
    if admin is not None:
        total += WEIGHTS["admin"]
        (out.agreed if admin else out.disagreed).append("admin")
        gained += WEIGHTS["admin"] if admin else -4 * WEIGHTS["admin"]
    out.score = max(0.0, 100.0 * gained / total) if total else 0.0
    return out


def _descends(child: Candidate, parent: Candidate) -> bool:
    """Whether ``child`` lies inside ``parent`` (a room of the building asked for). The same
    body below the prefix is not inside: two villages of one name in two districts."""
    body = str(parent.row.get("body") or "")
    inner = str(child.row.get("body") or "")
    return bool(body) and inner != body and inner.startswith(body)


def classify(candidates: list[Candidate]) -> tuple[str, list[Candidate], int]:
    """The answer (``exact`` | ``probable`` | ``ambiguous`` | ``none``), every candidate best
    first, and how many of the first make the answer (see the module docstring)."""
    ranked = sorted(
        candidates, key=lambda c: (c.conflicting, -c.score, not c.exact, len(c.finer), c.row["id"])
    )
    good = [c for c in ranked if not c.conflicting]
    if not good or good[0].score < ACCEPT:
        return "none", ranked, 0
    best = good[0]
    rivals = [
        c for c in good[1:]
        if c.score >= best.score - MARGIN and not _descends(c, best)
        and (c.exact or not best.exact)
    ]  # fmt: skip
    if rivals:
        tied = [best, *rivals]
        return "ambiguous", tied + [c for c in ranked if c not in tied], len(tied)
    rest = [c for c in ranked if c is not best]
    return ("exact" if best.exact else "probable"), [best, *rest], 1
