"""Staff on grids, unit cells and units: read them (open, ``as_of`` a past time), replace them
(``staff`` role), and their photos.

``/grids/{code}/staff``, ``/cells/{code}/staff`` and ``/units/{code}/staff``: the grid's
workers; a cell's 微网格员, 单元格信息员 or 楼栋长; a community's or town's escalation
contacts (社区书记/主任, 街道书记/主任). What is public is what the notice sheet shows: name,
role, duty, phone, and the photo as a URL the service serves (``/staff/photos/<id>.jpg``) or
an http(s) URL; the stored file path never leaves, and an ID number sent for real-name
registration is checked and dropped, never stored. Every record sent is checked (a known
role that may serve this post, one-line name, a phone that can be dialled, one person per ID
number): a bad one is a 422 naming the field, and nothing is replaced. A replacement closes
the rows of people who left or changed (kept in the history: ``GET …?as_of=``), and keeps
the rows of people who did not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import FileResponse

from api.deps import PrivateReader, State, read_access, require_role
from api.errors import AuthMissingError, NotFoundError
from api.present import (
    PHOTO_TYPES,
    post_exists,
    staff_out,
    staff_photo,
    staff_records,
    unit_level,
)
from api.schemas import StaffIn, StaffOut, StaffRecordOut
from api.state import AppState
from gis.errors import RosterError, RosterProblems
from gis.rules.staff import check_post

router = APIRouter(tags=["staff"])

POSTS = {"grids": "grid", "cells": "cell", "units": "unit"}
"""Path prefix → what a staff row serves."""
AsOf = Annotated[
    datetime | None,
    Query(description="ISO 8601 time: the staff then, in the version live then (default: now)"),
]


def _check_post(state: AppState, serves: str, code: str, as_of: datetime | None = None) -> None:
    index = state.live.index(as_of=as_of)
    why = post_exists(state, index, serves, code)
    if why is not None:
        raise NotFoundError(why)


def _check_people(state: AppState, serves: str, code: str, staff: list[StaffIn]) -> None:
    """Each role may serve this post; an ID number names one person and each post once."""
    level = unit_level(state, state.live.index(), code) if serves == "unit" else None
    problems = []
    people: dict[str, tuple[int, str, set[str]]] = {}
    for i, person in enumerate(staff):
        try:
            check_post(person.role, serves, level)
        except RosterError as exc:
            problems.append(f"staff[{i}] ({person.name}): {exc}")
        if person.id_number is None:
            continue
        first, name, roles = people.setdefault(person.id_number, (i, person.name, set()))
        if name != person.name or person.role in roles:
            problems.append(f"staff[{i}] ({person.name}): duplicate ID number of staff[{first}]")
        roles.add(person.role)
    if problems:
        raise RosterProblems(problems)


def _get(serves: str) -> Callable[..., list[StaffRecordOut]]:
    """The GET route of one kind of post."""

    def get_staff(
        state: State, code: str, may_read_private: PrivateReader, as_of: AsOf = None
    ) -> list[StaffRecordOut]:
        if as_of is not None and not may_read_private:  # the history (备案) is not public
            msg = "a past roster (as_of) needs an API key or read token in X-API-Key"
            raise AuthMissingError(msg)
        _check_post(state, serves, code, as_of)
        return staff_records(state, code, serves=serves, as_of=as_of)

    get_staff.__doc__ = (
        f"The staff of one {serves} now (public), or as of a past time (the history: a key or "
        "read token), each with since when (and until when) they held the post."
    )
    return get_staff


def _put(serves: str) -> Callable[..., list[StaffOut]]:
    """The PUT route of one kind of post."""

    def put_staff(
        state: State, code: str, staff: Annotated[list[StaffIn], Body(max_length=50)]
    ) -> list[StaffOut]:
        _check_post(state, serves, code)
        _check_people(state, serves, code, staff)
        rows = [
            {"name": s.name, "role": s.role, "duty": s.duty, "phone": s.phone,
             "photo_path": s.photo}
            for s in staff
        ]  # fmt: skip  # the ID number is not among them: never stored
        state.registry.replace_staff(code, rows, serves=serves)
        state.invalidate_staff()
        return staff_out(state, code, serves=serves)

    put_staff.__doc__ = (
        f"Replace the staff of one {serves} (every record checked first; the rows replaced "
        "are closed and kept in the history)."
    )
    return put_staff


for prefix, kind in POSTS.items():
    router.add_api_route(
        f"/{prefix}/{{code}}/staff",
        _get(kind),
        methods=["GET"],
        response_model=list[StaffRecordOut],
        dependencies=[Depends(read_access)],
        name=f"get_{kind}_staff",
    )
    router.add_api_route(
        f"/{prefix}/{{code}}/staff",
        _put(kind),
        methods=["PUT"],
        response_model=list[StaffOut],
        dependencies=[Depends(require_role("staff"))],
        name=f"put_{kind}_staff",
    )


@router.get(
    "/staff/photos/{name}",
    response_class=FileResponse,
    dependencies=[Depends(read_access)],
    responses={200: {"content": {t: {} for t in sorted(set(PHOTO_TYPES.values()))}}},
)
def get_photo(state: State, name: str) -> FileResponse:
    """A staff member's photo, by the name its ``photo_url`` gives (never by path)."""
    path = staff_photo(state, name)
    if path is None:
        raise NotFoundError(f"no staff photo {name!r}")
    return FileResponse(
        path, media_type=PHOTO_TYPES[path.suffix.lower()], headers={"Cache-Control": "max-age=300"}
    )
