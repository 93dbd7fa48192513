"""The staff roster's history, the same in both registries (SQLite and PostGIS).

A staff row serves one post: a grid (``grid_code``), a unit cell (``cell_code``) or an
administrative unit (``unit_code``), exactly one of them. Rows are valid-time ranged,
half-open ``[valid_from, valid_to)``; a change to a post's roster never overwrites: the rows
of people who left or whose public details changed are closed (``valid_to`` = the time of
the change), new rows are opened, and a person whose details did not change keeps their row
(and so the date they took the post). A read ``as_of`` a time returns the rows valid then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

TARGETS: Final = ("grid_code", "cell_code", "unit_code")
PERSON_FIELDS: Final = ("name", "role", "duty", "phone", "photo_path")
STAFF_FIELDS: Final = (*TARGETS, *PERSON_FIELDS)
"""What a staff row stores: its post and the public-notice fields, nothing private."""
HISTORY_FIELDS: Final = (*STAFF_FIELDS, "valid_from", "valid_to")
SERVES: Final = {"grid": "grid_code", "cell": "cell_code", "unit": "unit_code"}

Post = tuple[str, str]
"""(target column, code): what a row serves, e.g. ``("grid_code", "A01")``."""


@dataclass(frozen=True)
class StaffChange:
    """What a roster change did: rows kept open, closed, and added."""

    kept: int
    closed: int
    added: int


def post_of(row: Mapping[Any, Any]) -> Post:
    """The post a stored row serves (its one target column that is set)."""
    for target in TARGETS:
        value = row.get(target)
        if value is not None and not (isinstance(value, float) and pd.isna(value)) and value:
            return target, str(value)
    raise ValueError(f"staff row serves nothing: {dict(row)}")


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    return value


def person_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The public-notice fields of a row, as compared between rosters."""
    return tuple(_clean(row.get(f)) for f in PERSON_FIELDS)


def stored_row(post: Post, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row to insert for ``post``: its target set, the other targets NULL."""
    return {
        **dict.fromkeys(TARGETS), post[0]: post[1],
        **dict(zip(PERSON_FIELDS, person_of(row), strict=True)),
    }  # fmt: skip


def rosters_from(table: pd.DataFrame, *, posts: Iterable[Post] = ()) -> dict[Post, list[dict]]:
    """Post → its rows, from a checked roster (:func:`gis.rules.staff.check_roster`; its
    ``photo`` column is stored as ``photo_path``); every post of ``posts`` too (emptied
    when the table has no row for it)."""
    out: dict[Post, list[dict[str, Any]]] = {p: [] for p in posts}
    for row in table.rename(columns={"photo": "photo_path"}).to_dict("records"):
        out.setdefault(post_of(row), []).append({str(k): v for k, v in row.items()})
    return out


def plan_change(
    current: Sequence[tuple[int, Mapping[str, Any]]], rosters: Mapping[Post, list[dict]]
) -> tuple[list[int], list[dict[str, Any]], int]:
    """Which open rows to close and which rows to insert so that each post of ``rosters``
    holds exactly its rows; the other posts are untouched.

    Parameters
    ----------
    current
        (id, row) of every open row of those posts.
    rosters
        Post → its new rows (public fields).

    Returns
    -------
    tuple
        Ids to close, rows to insert (:func:`stored_row`), how many rows stay open.
    """
    close: list[int] = []
    insert: list[dict[str, Any]] = []
    kept = 0
    by_post: dict[Post, list[tuple[int, Mapping[str, Any]]]] = {}
    for row_id, row in current:
        by_post.setdefault(post_of(row), []).append((row_id, row))
    for post, rows in rosters.items():
        wanted = Counter(person_of(r) for r in rows)
        for row_id, row in by_post.get(post, []):
            person = person_of(row)
            if wanted[person] > 0:
                wanted[person] -= 1
                kept += 1
            else:
                close.append(row_id)
        for row in rows:
            person = person_of(row)
            if wanted[person] > 0:
                wanted[person] -= 1
                insert.append(stored_row(post, row))
    return close, insert, kept


def history_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows read in :data:`HISTORY_FIELDS` order → a frame: times as UTC timestamps (NaT:
    open-ended), a missing value as None."""
    table = pd.DataFrame([tuple(r) for r in rows], columns=list(HISTORY_FIELDS), dtype=object)
    for column in ("valid_from", "valid_to"):
        table[column] = pd.to_datetime(table[column], utc=True, format="ISO8601")
    fields = list(STAFF_FIELDS)
    table[fields] = table[fields].astype(object).where(table[fields].notna(), None)
    return table


def insert_values(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as value tuples in :data:`STAFF_FIELDS` order."""
    return [tuple(r.get(f) for f in STAFF_FIELDS) for r in rows]
