"""The OGC API route class: every error on an OGC route is an OGC exception body (400 for an
invalid or unknown parameter, as OGC API Features requires, where the rest of the service says
422), and the OpenAPI document says so (:data:`OGC_RESPONSES`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.errors import OgcParameterError, ogc_error


class OgcException(BaseModel):
    """An OGC API exception (``exception.yaml`` of OGC API Features Part 1)."""

    code: str = Field(description="What went wrong, e.g. InvalidParameterValue, NotFound")
    description: str | None = Field(default=None, description="Why, and how to fix it")
    detail: str | None = Field(default=None, description="The same message (as elsewhere)")
    error: str | None = Field(default=None, description="The error class")


OGC_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": OgcException, "description": "参数无效或未定义 (invalid or unknown parameter)"},
    404: {"model": OgcException, "description": "集合、要素或版本不存在 (not found)"},
    503: {"model": OgcException, "description": "方案库不可用 (store unavailable)"},
    "default": {"model": OgcException, "description": "OGC exception"},
}
"""The error responses of every OGC route, for ``responses=`` (FastAPI then adds no 422)."""


class OgcRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` whose errors (bad parameters, missing key, not
    found, store down) all come back as OGC exception bodies (:func:`api.errors.ogc_error`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped so that any error becomes an OGC exception body."""
        handler = super().get_route_handler()

        async def ogc_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error, mapped in api.errors (500 logged there)
                return ogc_error(request, exc)

        return ogc_handler


def reject_unknown(request: Request, allowed: Iterable[str]) -> None:
    """Refuse query parameters the route does not define (OGC API Features
    ``/req/core/query-param-unknown``).

    Raises
    ------
    OgcParameterError
        Naming the unknown parameters and the known ones.
    """
    known = set(allowed)
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])
        msg = f"unknown query parameter(s) {names}; this route takes: {', '.join(sorted(known))}"
        raise OgcParameterError(msg)
