"""The error answers of every operation, as the OpenAPI description declares them.

The handlers of :mod:`api.errors` answer every error with one JSON body, ``{"detail":
reason, "error": class}`` (a 422 from parameter validation adds ``errors``, one entry per
parameter). FastAPI's generated description knows none of that: it names a 422 body
``HTTPValidationError`` with ``detail`` a list, and lists no 401, 403 or 404 unless a route
spells them out. :func:`document` puts the truth in, from what each route depends on:

* a route whose body FastAPI reads may answer **400** (a body it cannot even decode: not
  UTF-8, say; a body that decodes but does not validate is a 422);
* a route that reads the ``X-API-Key`` header (a role, a private or keyed read, a read token,
  a rate limit by key) may answer **401** (no key, or an unknown one);
* a route that needs a role (:func:`api.deps.require_role`, ``require_any_role``) may answer
  **403** (the key lacks it);
* a route with path parameters may answer **404** (no such grid, version, tile, photo …);

each with :data:`ERROR_SCHEMA`, unless the route declares that status itself. What a route
can answer beyond these (a 404 for a missing version on a route without path parameters, a
413, a 429) it declares itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

ERROR_SCHEMA: Final[dict[str, Any]] = {
    "title": "HTTPValidationError",
    "description": "An error: its reason (detail), its class (error) and, when parameters "
    "fail validation, one entry per parameter (errors)",
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["detail", "error"],
}
"""The error body (:mod:`api.errors`), under the name FastAPI gives its 422 schema."""
ERROR_REF: Final = {"$ref": "#/components/schemas/HTTPValidationError"}


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI response of the error body, for a status a route declares itself."""
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


REASONS: Final = {
    400: "The body cannot be read at all (not UTF-8, say)",
    401: "No API key in X-API-Key, or an unknown one (or an expired read token)",
    403: "The API key lacks the role this operation needs",
    404: "What the path names does not exist",
}


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route of ``app`` (inside included routers too), with its full path."""
    try:
        from fastapi.routing import iter_route_contexts  # noqa: PLC0415
    except ImportError:  # FastAPI before included routers were kept whole: a flat list
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield str(context.path_format or route.path_format), route


def declare(app: FastAPI, answers: Callable[[APIRoute], dict[int, dict[str, Any]]]) -> None:
    """Add ``answers(route)`` (status → OpenAPI response) to each route's operations in the
    OpenAPI description, where the route does not declare that status itself.

    The description is amended as it is built (FastAPI builds it from copies of the routes
    made when routers are included, so changing a route's ``responses`` later shows nowhere).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        paths = schema.get("paths", {})
        for path, route in api_routes(app):
            found = answers(route)
            for method in sorted(route.methods or ()) if found else ():
                operation = paths.get(path, {}).get(method.lower())
                if operation is None:
                    continue
                for status, response in found.items():
                    operation.setdefault("responses", {}).setdefault(
                        str(status), copy.deepcopy(response)
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


ROLE_CHECKS: Final = ("require_role.", "require_any_role.")
"""The factories in :mod:`api.deps` whose checks refuse a key without the role (403)."""


def _is_role_check(call: Callable[..., Any]) -> bool:
    """Whether ``call`` is a check made by one of :data:`ROLE_CHECKS`."""
    return getattr(call, "__module__", "") == "api.deps" and getattr(
        call, "__qualname__", ""
    ).startswith(ROLE_CHECKS)


def error_answers(route: APIRoute) -> dict[int, dict[str, Any]]:
    """The error answers the route's dependencies and path can give (see the module)."""
    calls = list(_calls(route.dependant))
    statuses = []
    if route.body_field is not None:
        statuses.append(400)
    if any(isinstance(call, APIKeyHeader) for call in calls):
        statuses.append(401)
    if any(_is_role_check(call) for call in calls):
        statuses.append(403)
    if route.dependant.path_params:
        statuses.append(404)
    return {
        status: {
            "description": REASONS[status],
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for status in statuses
    }


def document(app: FastAPI) -> None:
    """Declare the error answers of every route of ``app`` and the error body's schema."""
    declare(app, error_answers)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["HTTPValidationError"] = copy.deepcopy(ERROR_SCHEMA)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
