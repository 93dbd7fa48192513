"""Review of plan versions through the API: propose, submit, approve, reject, roll back; the
audit log; a version in review and its difference from the live one.

Roles (:data:`api.settings.ROLES`): ``author`` proposes and submits; ``reviewer`` approves,
rejects and rolls back; ``publisher`` holds both. The rules are the store's
(:mod:`gis.store.review`): author and reviewer differ by name, and here also by key: the key
that proposed or submitted a version cannot approve or reject it, whatever name it gives.
Every step is in the audit log with the key's id (a hash, never the key). A version in review
is readable only with a key that may read drafts (:data:`api.deps.DRAFT_ROLES`); lookups,
features and tiles serve approved versions only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import Caller, DraftReader, State, read_access, read_body, require_any_role
from api.errors import AuthForbiddenError
from api.present import version_out
from api.responses import error_response
from api.routes.versions import plan_body
from api.schemas import AuditOut, VersionOut
from api.state import AppState
from gis import columns as col
from gis.errors import SelfReviewError
from gis.store import VersionInfo
from gis.store.plan import VERSION_ID

router = APIRouter(tags=["review"])

VersionPath = Annotated[int, Path(ge=1, description="Version id")]
Person = Annotated[str, Query(min_length=1, max_length=200)]
Note = Annotated[str, Query(max_length=2000)]
AUTHORS = require_any_role("author", "publisher")
REVIEWERS = require_any_role("reviewer", "publisher")
CHANGE_LABELS = {"added": "新增", "changed": "调整", "unchanged": "未变"}
Responses = dict[int | str, dict[str, Any]]
DRAFTS_403: Responses = {
    403: error_response("The key (or read token) may not read versions in review")
}
STEP_409: Responses = {409: error_response("The version is not at a step that allows this one")}
REVIEW_ERRORS: Responses = {
    403: error_response("The reviewer is the author (by name or by key), or lacks the role"),
    **STEP_409,
}
"""How a grid of a version compares with the live one, as users read it."""


async def draft_readers(may_read_drafts: DraftReader) -> None:
    """Refuse (403) a request whose key or read token may not read versions in review."""
    if not may_read_drafts:
        msg = "versions in review need a key (or its read token) with the author or reviewer role"
        raise AuthForbiddenError(msg)


DRAFT_READERS = draft_readers


def _context(caller: Caller) -> dict[str, Any]:
    return {"via": "api", "key": caller.key_id}


def _not_proposer(state: AppState, version_id: int, caller: Caller) -> None:
    """Refuse a review by the key that proposed or submitted the version."""
    for entry in state.store.audit(version_id):
        if entry.action in ("draft", "submit") and entry.detail.get("key") == caller.key_id:
            msg = (
                f"the API key that proposed version {version_id} cannot review it: author and "
                "reviewer must differ (a single user holding both roles publishes directly)"
            )
            raise SelfReviewError(msg)


async def _run(state: AppState, step: Any, *args: Any, **kwargs: Any) -> VersionOut:
    info: VersionInfo = await run_in_threadpool(step, *args, **kwargs)
    state.invalidate_version()
    return version_out(info)


@router.post(
    "/versions/drafts",
    response_model=VersionOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PublishIn"}}},
            "required": True,
        }
    },
)
async def propose(
    request: Request,
    state: State,
    author: Person,
    caller: Annotated[Caller, Depends(AUTHORS)],
    note: Note = "",
    submit: Annotated[bool, Query(description="Send for approval now (else a draft)")] = True,
) -> VersionOut:
    """Store a plan for review (checked like a publish; never live until approved).

    The body is ``PublishIn``, as for ``POST /versions``.
    """
    data = await read_body(request, state.settings.max_upload_bytes)

    def store() -> VersionInfo:
        return state.store.propose(
            author=author, note=note, submit=submit, context=_context(caller), **plan_body(data)
        )

    return await _run(state, store)


@router.post("/versions/{version_id}/submit", response_model=VersionOut, responses=STEP_409)
async def submit(
    state: State, version_id: VersionPath, author: Person,
    caller: Annotated[Caller, Depends(AUTHORS)],
) -> VersionOut:  # fmt: skip
    """Send a draft for approval."""
    return await _run(
        state, state.store.submit, version_id, author=author, context=_context(caller)
    )


@router.post("/versions/{version_id}/approve", response_model=VersionOut, responses=REVIEW_ERRORS)
async def approve(
    state: State, version_id: VersionPath, reviewer: Person,
    caller: Annotated[Caller, Depends(REVIEWERS)], note: Note = "",
) -> VersionOut:  # fmt: skip
    """Approve a submitted version (reviewer ≠ author, by name and by key): live from now."""

    def step() -> VersionInfo:
        _not_proposer(state, version_id, caller)
        return state.store.approve(
            version_id, reviewer=reviewer, note=note, context=_context(caller)
        )

    return await _run(state, step)


@router.post("/versions/{version_id}/reject", response_model=VersionOut, responses=REVIEW_ERRORS)
async def reject(
    state: State, version_id: VersionPath, reviewer: Person,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
    caller: Annotated[Caller, Depends(REVIEWERS)],
) -> VersionOut:  # fmt: skip
    """Reject a version in review, with the reason; it never goes live."""

    def step() -> VersionInfo:
        _not_proposer(state, version_id, caller)
        return state.store.reject(
            version_id, reviewer=reviewer, reason=reason, context=_context(caller)
        )

    return await _run(state, step)


@router.post(
    "/versions/{version_id}/rollback", response_model=VersionOut, status_code=201,
    responses=STEP_409,
)  # fmt: skip
async def rollback(
    state: State, version_id: VersionPath, author: Person,
    caller: Annotated[Caller, Depends(REVIEWERS)], note: Note = "",
) -> VersionOut:  # fmt: skip
    """Re-publish an earlier approved version as a new live version."""
    return await _run(
        state, state.store.rollback, version_id, author=author, note=note,
        context=_context(caller),
    )  # fmt: skip


@router.get(
    "/versions/{version_id}", response_model=VersionOut, dependencies=[Depends(read_access)]
)
async def get_version(
    state: State, version_id: VersionPath, may_read_drafts: DraftReader
) -> VersionOut:
    """One version; one in review or rejected only with a key that may read drafts."""
    info = await run_in_threadpool(state.store.version, version_id, drafts=may_read_drafts)
    return version_out(info)


@router.get(
    "/versions/{version_id}/diff",
    dependencies=[Depends(DRAFT_READERS)],
    responses={
        200: {"description": "Grids added, removed, changed; households moved"},
        **DRAFTS_403,
    },
)
async def diff(
    state: State,
    version_id: VersionPath,
    against: Annotated[int | None, Query(ge=1, description="Default: the live version")] = None,
) -> dict[str, Any]:
    """What a version (a draft, typically) changes against another (the live one)."""

    def compare() -> dict[str, Any]:
        base = against if against is not None else state.store.version().id
        return state.store.diff(base, version_id).to_dict()

    return await run_in_threadpool(compare)


@router.get(
    "/versions/{version_id}/grids",
    dependencies=[Depends(DRAFT_READERS)],
    responses={200: {"content": {"application/geo+json": {}}}, **DRAFTS_403},
)
async def version_grids(
    state: State,
    version_id: VersionPath,
    against: Annotated[int | None, Query(ge=1, description="Default: the live version")] = None,
) -> Response:
    """The grids of a version (a draft, typically) as GeoJSON (EPSG:4326), each with its
    ``change`` against another version (the live one): added, changed or unchanged, and its
    Chinese label; the map draws a draft over the live plan with it."""

    def build() -> bytes:
        base = against if against is not None else state.store.version().id
        grids = state.store.read_grids(version_id, drafts=True)
        found = state.store.diff(base, version_id)
        changed = set(found.changed[col.GRID_CODE].astype(str)) if len(found.changed) else set()
        added = set(found.added)
        kind = [
            "added" if c in added else "changed" if c in changed else "unchanged"
            for c in grids[col.GRID_CODE].astype(str)
        ]
        out = grids.assign(change=kind, change_label=[CHANGE_LABELS[k] for k in kind])
        return out.drop(columns=[VERSION_ID]).to_json(drop_id=True).encode()

    body = await run_in_threadpool(build)
    return Response(body, media_type="application/geo+json")


@router.get(
    "/audit",
    response_model=list[AuditOut],
    dependencies=[Depends(DRAFT_READERS)],
    responses=DRAFTS_403,
)
async def audit(
    state: State,
    version: Annotated[
        int | None, Query(ge=1, description="Only the steps on this version")
    ] = None,
) -> list[AuditOut]:
    """The append-only audit log: who did what to which version, when (oldest first)."""
    entries = await run_in_threadpool(state.store.audit, version)
    return [AuditOut(**e.to_dict()) for e in entries]
