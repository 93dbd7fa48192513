"""Grid workers' public-notice details: read them (open), replace them (``staff`` role), and
their photos.

What is public is what the notice sheet shows: name, role, phone, and the photo as a URL the
service serves (``/staff/photos/<id>.jpg``) or an http(s) URL; the stored file path never
leaves. Every record sent is checked (known role, one-line name, a phone that can be
dialled): a bad one is a 422 naming the field, and nothing is replaced.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import FileResponse

from api.deps import State, read_access, require_role
from api.errors import NotFoundError
from api.present import PHOTO_TYPES, staff_out, staff_photo
from api.schemas import StaffIn, StaffOut

router = APIRouter(tags=["staff"])


@router.get(
    "/grids/{grid_code}/staff", response_model=list[StaffOut], dependencies=[Depends(read_access)]
)
def get_staff(state: State, grid_code: str) -> list[StaffOut]:
    """The public roster of one grid of the live version."""
    if state.live.index().position(grid_code) is None:
        raise NotFoundError(f"no grid {grid_code!r} in the live version")
    return staff_out(state, grid_code)


@router.put(
    "/grids/{grid_code}/staff",
    response_model=list[StaffOut],
    dependencies=[Depends(require_role("staff"))],
)
def put_staff(
    state: State, grid_code: str, staff: Annotated[list[StaffIn], Body(max_length=50)]
) -> list[StaffOut]:
    """Replace the public roster of one grid (every record checked first)."""
    if state.live.index().position(grid_code) is None:
        raise NotFoundError(f"no grid {grid_code!r} in the live version")
    rows = [
        {"name": s.name, "role": s.role, "phone": s.phone, "photo_path": s.photo} for s in staff
    ]
    state.registry.replace_staff(grid_code, rows)
    state.invalidate_staff()
    return staff_out(state, grid_code)


@router.get(
    "/staff/photos/{name}",
    response_class=FileResponse,
    dependencies=[Depends(read_access)],
    responses={200: {"content": {t: {} for t in sorted(set(PHOTO_TYPES.values()))}}},
)
def get_photo(state: State, name: str) -> FileResponse:
    """A grid worker's photo, by the name its ``photo_url`` gives (never by path)."""
    path = staff_photo(state, name)
    if path is None:
        raise NotFoundError(f"no staff photo {name!r}")
    return FileResponse(
        path, media_type=PHOTO_TYPES[path.suffix.lower()], headers={"Cache-Control": "max-age=300"}
    )
