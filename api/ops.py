"""Operations: ``/health`` (the process answers), ``/ready`` (it can serve), ``/metrics``.

``/health`` is 200 whenever the process answers: a liveness probe, it touches nothing.
``/ready`` asks the store for its versions (what each poll does, :meth:`api.live.LivePoller.
refresh`) and is 200 only when the store answered and a live version's index is in memory;
else 503 with the reason in Chinese and English. A load balancer sends lookups only to a
ready process; an orchestrator restarts one that is not healthy.

``/metrics`` is the Prometheus text exposition of the app's own registry
(:class:`api.observability.Metrics`). None of the three needs a key, whatever
``read_requires_key`` says: probes and scrapers carry none, and these say nothing of the plans.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api.deps import State
from api.observability import Metrics
from gis.errors import VersionNotFoundError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

STORE_UNREACHABLE: Final = "无法连接方案存储 (the plan store cannot be reached)"
NO_LIVE_VERSION: Final = "尚无生效的方案版本 (no plan version is live yet: publish one)"
NOT_LOADED: Final = "生效版本尚未载入内存 (the live version is not loaded yet)"


class HealthOut(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    """Whether the service can answer lookups, and why not."""

    ready: bool
    live_version: int | None = Field(description="The live version in memory (null: none)")
    reason: str | None = Field(description="Why not ready, in Chinese and English")


@router.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """200 whenever the process answers (liveness)."""
    return HealthOut()


def _readiness(state: State) -> ReadyOut:
    """Ask the store (off the event loop: it is a query) and look at the live index."""
    if not state.poller.refresh():
        logger.warning("not ready: %s", state.live.last_error)
        return ReadyOut(ready=False, live_version=None, reason=STORE_UNREACHABLE)
    try:
        found = state.live.cached()
    except VersionNotFoundError:
        return ReadyOut(ready=False, live_version=None, reason=NO_LIVE_VERSION)
    if found is None:
        return ReadyOut(ready=False, live_version=None, reason=NOT_LOADED)
    return ReadyOut(ready=True, live_version=found.version_id, reason=None)


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready: the reason says why"}},
)
async def ready(state: State) -> JSONResponse:
    """200 when the store answers and a live version is loaded; else 503 with the reason."""
    found = await run_in_threadpool(_readiness, state)
    return JSONResponse(found.model_dump(mode="json"), status_code=200 if found.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route and status, latency, lookups, index reloads."""
    found: Metrics = request.app.state.metrics
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
