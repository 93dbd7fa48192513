"""Address → grid (single and batch), grid → its doors, and importing the address table.

``GET /lookup/address`` answers with ``match`` (``exact`` | ``probable`` | ``ambiguous`` |
``none``), the parts that agreed and disagreed, and the grid. Without a key holding the
``addresses`` role only the answer's own candidates are returned (one, or the tied ones of an
ambiguous answer): no room-level neighbours of whatever was asked. ``GET
/grids/{code}/addresses`` lists the doors and buildings of a grid (doors, never people) and
needs that role too, as does importing.
"""

from __future__ import annotations

import hmac
import io
from typing import Annotated, Any, Final

import orjson
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import State, api_key_header, read_access, require_role
from api.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from api.limits import batch_limit
from api.present import grid_out, index_band, version_out
from api.schemas import GridOut
from api.settings import Settings
from api.state import AppState
from gis.errors import AddressError, BatchTooLargeError
from gis.serving.addresses import AddressMatch, AddressMatcher, read_address_table
from gis.serving.addresses.grid import candidate_grids, doors_in_grid, lookup_table
from gis.serving.addresses.matcher import candidate_fields
from gis.serving.addresses.table import address_keys
from gis.store.addresses import check_import

router = APIRouter(tags=["addresses"])
MAX_BATCH_ADDRESSES: Final = 100_000
NO_NUL: Final = r"^[^\x00]*$"
"""An address never holds a NUL character (the address index cannot search one)."""
ROLE: Final = "addresses"


class AddressCandidate(BaseModel):
    """A standard address compared with the query, with its grid."""

    address: str
    score: float = Field(description="0–100: the weighted share of the query's parts that agree")
    lon: float
    lat: float
    agreed: list[str] = Field(description="Parts that agree (a typo'd name counts)")
    disagreed: list[str] = Field(description="Parts that differ")
    missing: list[str] = Field(description="Parts the query gives and this address lacks")
    grid: GridOut | None


class AddressOut(BaseModel):
    """The answer to a free-text address."""

    query: str
    normalized: str
    parts: dict[str, str] = Field(description="The query's parts (road, door, place, …)")
    match: str = Field(description="exact | probable | ambiguous | none")
    grid_code: str | None = Field(description="The answer's grid (ambiguous: when all agree)")
    candidates: list[AddressCandidate]


def _has_role(settings: Settings, key: str | None) -> bool:
    """Whether ``key`` holds the addresses role (keys compared in constant time)."""
    if not key:
        return False
    for known, roles in settings.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return ROLE in roles
    return False


async def may_list(
    state: State, key: Annotated[str | None, Security(api_key_header)]
) -> bool:  # fmt: skip
    """Whether the caller may see more than the answer (room-level neighbours)."""
    return _has_role(state.settings, key)


def matcher(state: AppState) -> AddressMatcher:
    """The address matcher over the registry's indexes (built once, dropped on import)."""
    return state.addresses.get_or_build(lambda: AddressMatcher(state.registry))


def _answer(state: AppState, m: AddressMatch, limit: int, full: bool) -> AddressOut:
    shown = m.candidates[:limit] if full else m.answer
    index = state.live.index()
    [codes] = candidate_grids([AddressMatch(m.query, m.normalized, m.parts, m.match, shown)], index)
    band = index_band(index)
    out = []
    for c, code in zip(shown, codes, strict=True):
        position = index.position(code) if code is not None else None
        grid = (
            grid_out(index.record(position), band, index.version.unit_bands)
            if position is not None and index.version is not None
            else None
        )
        out.append(AddressCandidate(**candidate_fields(c), grid=grid))
    answer = codes[: m.n_answer] if m.n_answer <= len(codes) else []
    grid_code = answer[0] if answer and len(set(answer)) == 1 else None
    return AddressOut(
        query=m.query, normalized=m.normalized, parts=m.parts.given(), match=m.match,
        grid_code=grid_code, candidates=out,
    )  # fmt: skip


@router.get(
    "/lookup/address",
    response_model=AddressOut,
    dependencies=[Depends(read_access)],
    responses={404: {"description": "no plan version is live"}},
)
def lookup_address(
    state: State,
    full: Annotated[bool, Depends(may_list)],
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="Free-text address (no NUL character)",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=50, description="Candidates (addresses role)")] = 5,
) -> AddressOut:
    """The standard address a free-text address means, how sure that is, and its grid."""
    return _answer(state, matcher(state).lookup(q), limit, full)


def _queries(data: bytes, ctype: str) -> list[str]:
    if ctype == "text/csv":
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        except Exception as exc:
            raise BadRequestError(f"cannot read the address CSV: {exc}") from exc
        cols = {str(c).strip().lower(): c for c in frame.columns}
        if "address" not in cols:
            msg = f"the CSV needs an 'address' column; columns seen: {list(frame.columns)}"
            raise BadRequestError(msg)
        return _without_nul(frame[cols["address"]].astype(str).tolist())
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from exc
    items = body.get("addresses") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise BadRequestError('JSON body must be {"addresses": ["…", …]} (strings)')
    return _without_nul(items)


def _without_nul(queries: list[str]) -> list[str]:
    """The queries, refused when one holds a NUL character (the index cannot search it)."""
    bad = next((i for i, q in enumerate(queries) if "\x00" in q), None)
    if bad is not None:
        raise BadRequestError(f"address {bad} holds a NUL character (\\x00); remove it")
    return queries


def _batch(state: AppState, data: bytes, ctype: str, full: bool, fmt: str) -> Response:
    queries = _queries(data, ctype)
    if len(queries) > MAX_BATCH_ADDRESSES:
        msg = f"batch of {len(queries)} addresses exceeds the limit of {MAX_BATCH_ADDRESSES}"
        raise BatchTooLargeError(msg)
    index = state.live.index()
    table = lookup_table(matcher(state), queries, index)
    if not full:  # no neighbours for a caller without the role: nothing shown for none
        hidden = table["match"] == "none"
        table.loc[hidden, ["address", "lon", "lat", "score"]] = None
    table.insert(0, "query", queries)
    if fmt == "csv":
        return Response(table.to_csv(index=False), media_type="text/csv; charset=utf-8")
    counts = table["match"].value_counts().to_dict()
    body: dict[str, Any] = {
        "count": len(table), "matches": {k: int(v) for k, v in counts.items()},
        "version": version_out(index.version).model_dump(mode="json"),
        "results": orjson.loads(table.to_json(orient="records", force_ascii=False)),
    }  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/lookup/address/batch",
    dependencies=[Depends(read_access), Depends(batch_limit)],
    responses={
        404: {"description": "no plan version is live"},
        413: {"description": "more than 100,000 addresses or too large a body"},
    },
)
async def lookup_address_batch(
    request: Request,
    state: State,
    full: Annotated[bool, Depends(may_list)],
    format: Annotated[str, Query(pattern="^(json|csv)$", description="Response format")] = "json",
) -> Response:
    """Up to 100,000 addresses at once (JSON ``{"addresses": [...]}`` or a CSV with an
    ``address`` column): each gets its match, standard address, point and grid code."""
    data = await request.body()
    if len(data) > state.settings.max_upload_bytes:
        raise PayloadTooLargeError(f"request body of {len(data)} bytes is too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return await run_in_threadpool(_batch, state, data, ctype, full, format)


@router.get("/grids/{grid_code}/addresses", dependencies=[Depends(require_role(ROLE))])
def grid_addresses(
    state: State,
    grid_code: str,
    rooms: Annotated[bool, Query(description="Also list every standard address")] = False,
) -> dict[str, Any]:
    """The doors and buildings inside one grid of the live version, with how many standard
    addresses each holds (三知道: doors and rooms, never people)."""
    index = state.live.index()
    if index.position(grid_code) is None:
        raise NotFoundError(f"no grid {grid_code!r} in the live version")
    rows, doors = doors_in_grid(state.registry, index, grid_code)
    body: dict[str, Any] = {
        "grid_code": grid_code, "version": version_out(index.version).model_dump(mode="json"),
        "counts": {"addresses": len(rows), "doors": len(doors[["road", "door", "place"]]
                   .drop_duplicates()), "buildings": len(doors)},
        "doors": doors.to_dict("records"),
    }  # fmt: skip
    if rooms:
        body["addresses"] = rows[["id", "address", "lon", "lat"]].to_dict("records")
    return body


def _import(state: AppState, data: bytes, crs: str, replace: bool, allow_empty: bool) -> int:
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise AddressError("the address CSV is empty (not even a header)") from exc
    except Exception as exc:
        raise BadRequestError(f"cannot read the address CSV: {exc}") from exc
    table = read_address_table(frame, crs=crs, allow_empty=allow_empty)
    check_import(table, replace=replace, allow_empty=allow_empty)
    count = state.registry.import_addresses(table, address_keys(table), replace=replace)
    state.invalidate_addresses()
    return count


@router.post("/addresses", dependencies=[Depends(require_role(ROLE))])
async def import_addresses(
    request: Request,
    state: State,
    crs: Annotated[str, Query(max_length=32)] = "wgs84",
    replace: Annotated[bool, Query(description="Replace the whole table")] = False,
    allow_empty: Annotated[bool, Query(description="Accept a header-only CSV")] = False,
) -> dict[str, int]:
    """Add standard addresses from a CSV body (``text/csv``: address, lon, lat, …); an address
    already there is updated. ``replace=true`` replaces the whole table. All or nothing."""
    data = await request.body()
    if len(data) > state.settings.max_upload_bytes:
        raise PayloadTooLargeError(f"address table of {len(data)} bytes is too large")
    count = await run_in_threadpool(_import, state, data, crs, replace, allow_empty)
    return {"imported": count, "total": state.registry.count_addresses()}
