"""Free-text Chinese address → standard address → grid; importing the address table."""

from __future__ import annotations

import io
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from api.deps import State, read_access, require_role
from api.errors import BadRequestError
from api.present import grid_out, index_band
from api.schemas import AddressCandidate, AddressOut
from api.state import AppState
from gis.serving.addresses import AddressMatcher, normalize_address, read_address_table

router = APIRouter(tags=["addresses"])


def matcher(state: AppState) -> AddressMatcher:
    """The address matcher, built from the registry on first use (then cached)."""
    return state.addresses.get_or_build(lambda: AddressMatcher(state.registry.read_addresses()))


@router.get("/lookup/address", response_model=AddressOut, dependencies=[Depends(read_access)])
def lookup_address(
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Free-text address")],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> AddressOut:
    """Best-matching standard addresses, each with a score (0–100) and its grid."""
    m = matcher(state)
    ranked = m.search(q, limit=limit)
    index = state.live.index()
    rows = m.table.iloc[[i for i, _ in ranked]] if ranked else m.table.iloc[:0]
    positions = index.locate(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    out = []
    band = index_band(index)
    for (i, score), pos in zip(ranked, positions, strict=True):
        row = m.table.iloc[i]
        grid = grid_out(index.record(int(pos)), band) if pos >= 0 else None
        out.append(AddressCandidate(
            address=str(row["address"]), normalized=str(m.normalized[i]), score=round(score, 1),
            lon=float(row["lon"]), lat=float(row["lat"]), grid=grid,
        ))  # fmt: skip
    return AddressOut(query=q, normalized=normalize_address(q), candidates=out)


@router.post("/addresses", dependencies=[Depends(require_role("addresses"))])
async def import_addresses(
    request: Request,
    state: State,
    crs: Annotated[str, Query(max_length=32)] = "wgs84",
) -> dict[str, int]:
    """Replace the standard-address table from a CSV body (``text/csv``)."""
    data = await request.body()
    if len(data) > state.settings.max_upload_bytes:
        from api.errors import PayloadTooLargeError  # noqa: PLC0415

        raise PayloadTooLargeError(f"address table of {len(data)} bytes is too large")
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str)
    except Exception as exc:
        raise BadRequestError(f"cannot read the address CSV: {exc}") from exc
    table = read_address_table(frame, crs=crs)
    count = state.registry.replace_addresses(table)
    state.invalidate_addresses()
    return {"imported": count, "with_point": int(np.isfinite(table["lon"]).sum())}
