"""Grid workers' public-notice details: read (open) and replace (``staff`` role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from api.deps import State, read_access, require_role
from api.errors import NotFoundError
from api.present import staff_out
from api.schemas import StaffOut

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
    state: State, grid_code: str, staff: Annotated[list[StaffOut], Body(max_length=50)]
) -> list[StaffOut]:
    """Replace the public roster of one grid."""
    if state.live.index().position(grid_code) is None:
        raise NotFoundError(f"no grid {grid_code!r} in the live version")
    state.registry.replace_staff(grid_code, [s.model_dump() for s in staff])
    state.invalidate_staff()
    return staff_out(state, grid_code)
