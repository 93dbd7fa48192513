"""Answers with their grids, batches of them, and the doors of a grid.

Every point → grid decision goes through :meth:`gis.serving.lookup.GridIndex.locate` (the one
boundary rule): a candidate's grid, and whether a standard address lies in a grid (an address
on a shared edge is listed under exactly one grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from gis.errors import AddressError
from gis.serving.addresses.matcher import AddressMatch, AddressMatcher
from gis.serving.lookup import GridIndex
from gis.store.addresses import Registry

BATCH_COLUMNS: Final = (
    "match", "address", "lon", "lat", "grid_code", "score", "agreed", "disagreed", "missing",
    "candidates", "alternative",
)  # fmt: skip
DOOR_COLUMNS: Final = ("road", "door", "place", "building")


def answer_grid(match: AddressMatch, codes: Sequence[str | None]) -> str | None:
    """The grid of an answer: the best candidate's for exact/probable; for ambiguous, the
    grid every tied candidate lies in (None when they differ)."""
    answer = match.answer
    if not answer:
        return None
    found = {codes[i] for i in range(len(answer))}
    return next(iter(found)) if len(found) == 1 else None


def candidate_grids(matches: Sequence[AddressMatch], index: GridIndex) -> list[list[str | None]]:
    """Grid code of each returned candidate of each answer (one vectorised locate)."""
    lon = [float(c.row["lon"]) for m in matches for c in m.candidates]
    lat = [float(c.row["lat"]) for m in matches for c in m.candidates]
    positions = index.locate(np.asarray(lon), np.asarray(lat)) if lon else np.empty(0, int)
    out, at = [], 0
    for m in matches:
        out.append([index.code(int(p)) for p in positions[at : at + len(m.candidates)]])
        at += len(m.candidates)
    return out


def _batch_row(match: AddressMatch, codes: list[str | None]) -> dict[str, Any]:
    shown = match.answer[0] if match.answer else (match.candidates[0] if match.candidates else None)
    row: dict[str, Any] = {"match": match.match, "candidates": len(match.answer)}
    if shown is not None:
        row.update(
            address=shown.row["address"], lon=float(shown.row["lon"]),
            lat=float(shown.row["lat"]), score=round(shown.score, 1),
            agreed=";".join(shown.agreed + shown.similar), disagreed=";".join(shown.disagreed),
            missing=";".join(shown.missing),
        )  # fmt: skip
    row["grid_code"] = answer_grid(match, codes)
    if match.match == "ambiguous" and len(match.answer) > 1:
        row["alternative"] = match.answer[1].row["address"]
    return row


def lookup_table(
    matcher: AddressMatcher, queries: Sequence[str], index: GridIndex | None
) -> pd.DataFrame:
    """One row per query (:data:`BATCH_COLUMNS`): the answer, its address, point and grid.

    For ``none`` the nearest candidate is shown (its disagreeing parts say why) and no grid.
    Empty queries get ``none``.
    """
    texts = [str(q) if q is not None else "" for q in queries]
    keep = [i for i, q in enumerate(texts) if q.strip()]
    try:
        matches = matcher.lookup_many([texts[i] for i in keep])
    except AddressError:  # some query normalises to nothing: take them one by one
        matches, kept = [], []
        for i in keep:
            try:
                matches.append(matcher.lookup(texts[i]))
                kept.append(i)
            except AddressError:
                continue
        keep = kept
    grids: list[list[str | None]] = (
        candidate_grids(matches, index)
        if index is not None
        else [[None] * len(m.candidates) for m in matches]
    )
    rows: list[dict[str, Any]] = [{"match": "none", "candidates": 0} for _ in texts]
    for i, m, codes in zip(keep, matches, grids, strict=True):
        rows[i] = _batch_row(m, codes)
    frame = pd.DataFrame(rows).reindex(columns=list(BATCH_COLUMNS))
    frame["candidates"] = frame["candidates"].fillna(0).astype(int)
    return frame


def doors_in_grid(
    registry: Registry, index: GridIndex, grid_code: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard addresses inside one grid, and its doors and buildings with counts.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(addresses, doors)``: every standard address of the grid (id, address, lon, lat and
        its parts), and one row per door/building (road, door, place, building, ``addresses``:
        how many standard addresses it holds), sorted.

    Raises
    ------
    AddressError
        When the version has no grid ``grid_code``.
    """
    position = index.position(grid_code)
    if position is None:
        msg = f"grid {grid_code!r} is not in version {index.version_id}"
        raise AddressError(msg)
    geom = index.geoms[position]
    rows = registry.rows_in_box(tuple(float(v) for v in geom.bounds))  # type: ignore[arg-type]
    if len(rows):
        inside = index.locate(rows["lon"].to_numpy(), rows["lat"].to_numpy()) == position
        rows = rows[inside]
    rows = rows.sort_values(["road", "door", "place", "building", "unit", "room", "id"])
    rows = rows.reset_index(drop=True)
    keyed = rows.assign(**{c: rows[c].fillna("") for c in DOOR_COLUMNS})
    doors = (
        keyed.groupby(list(DOOR_COLUMNS), sort=True).size().rename("addresses").reset_index()
        if len(keyed)
        else pd.DataFrame(columns=[*DOOR_COLUMNS, "addresses"])
    )
    return rows, doors
