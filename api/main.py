"""The app factory: ``create_app(settings)`` wires settings, state, errors and routers.

Importing this module reads no environment variable; :class:`~api.settings.Settings` is
built inside :func:`create_app` when none is given.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.routing import Route

from api import errors, limits, ops, responses
from api.cors import SplitCORS
from api.observability import Metrics, ObservabilityMiddleware, access_logger
from api.routes import (
    addresses,
    auth,
    docs,
    features,
    lookup,
    map_page,
    review,
    staff,
    tiles,
    versions,
)
from api.schemas import BatchIn, PublishIn
from api.settings import Settings
from api.state import AppState

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings
        The configuration; ``Settings()`` (environment variables ``WANGGE_*``) when None.

    Returns
    -------
    fastapi.FastAPI
        The app; its lifespan opens the store, loads the live version and starts polling.
    """
    settings = settings if settings is not None else Settings()
    state = AppState.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.poller.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title=settings.title,
        description="Which grid a point or address is in; OGC API – Features; vector tiles.",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api.routes.docs, served without a CDN
        redoc_url=None,
    )
    app.state.wangge = state
    errors.install(app)
    routers = (lookup, addresses, features, tiles, versions, review, staff, auth, map_page, docs)
    for module in routers:
        app.include_router(module.router)
    _document_bodies(app, (BatchIn, PublishIn))
    _operations(app, settings, state)
    responses.document(app)  # the 401/403/404 each route can give, the real error body
    return app


def _operations(app: FastAPI, settings: Settings, state: AppState) -> None:
    """Health, readiness and metrics; batch rate limits; CORS; request ids and access logs
    (outermost, so that preflights and refusals are counted and logged too)."""
    app.include_router(ops.router)
    limits.install(app, settings)
    metrics = Metrics.create()
    app.state.metrics = metrics
    state.poller.on_reload.append(metrics.index_reloaded)
    app.add_middleware(
        SplitCORS,
        read_origins=settings.cors_read_origins,
        write_origins=settings.cors_write_origins,
    )
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        logger=access_logger(settings.access_log),
        routes=[route for route in app.routes if isinstance(route, Route)],
    )


def _document_bodies(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add the schemas of bodies that routes read themselves (off the event loop, so FastAPI
    does not see them) to the OpenAPI components their ``$ref`` names."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in found.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components.setdefault(model.__name__, found)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
