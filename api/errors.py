"""The one exception → HTTP status map of the service (tipg's ``DEFAULT_STATUS_CODES``).

Routes raise domain exceptions (from :mod:`gis.errors`) or the few service ones below; this
module turns each into a JSON body ``{"detail": message, "error": ClassName}`` with the
status of the nearest class in :data:`STATUS_CODES`. Bad input is always a 4xx.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis import errors as gis_errors

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of the service's own errors."""


class AuthMissingError(ServiceError):
    """No API key, or an unknown one."""


class AuthForbiddenError(ServiceError):
    """The API key lacks the role the operation needs."""


class NotFoundError(ServiceError):
    """A collection, feature, version or tile that does not exist."""


class BadRequestError(ServiceError):
    """A parameter or body that cannot be used (a precise message says why)."""


class PayloadTooLargeError(ServiceError):
    """A batch or upload above the configured limits."""


class RateLimitedError(ServiceError):
    """Too many requests from one key or client address (``retry_after_s``: when to retry)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(ServiceError):
    """The store cannot be reached and nothing cached can answer."""


class MissingDependencyError(UnavailableError):
    """The request needs an optional package (a pip extra) that is not installed."""


class OgcParameterError(BadRequestError):
    """An OGC API query parameter that is invalid or not defined for the route (400)."""


STATUS_CODES: dict[type[BaseException], int] = {
    AuthMissingError: 401,
    AuthForbiddenError: 403,
    NotFoundError: 404,
    gis_errors.VersionNotFoundError: 404,
    gis_errors.PointOutsideGridsError: 404,
    PayloadTooLargeError: 413,
    gis_errors.BatchTooLargeError: 413,
    OgcParameterError: 400,
    BadRequestError: 422,
    gis_errors.SelfReviewError: 403,
    gis_errors.ReviewError: 409,
    gis_errors.PlanRejectedError: 422,
    gis_errors.WanggeError: 422,
    gis_errors.InputTypeError: 422,
    RateLimitedError: 429,
    UnavailableError: 503,
    gis_errors.StoreError: 503,
}


def status_for(exc: BaseException) -> int | None:
    """Status of the nearest class of ``exc`` in :data:`STATUS_CODES` (None: not mapped)."""
    for klass in type(exc).__mro__:
        if klass in STATUS_CODES:
            return STATUS_CODES[klass]
    return None


def _body(exc: BaseException, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": str(exc), "error": type(exc).__name__}
    codes = getattr(exc, "grid_codes", None)
    if codes:
        body["grid_codes"] = codes
    point = getattr(exc, "point", None)
    if point is not None:
        body["lon"], body["lat"] = point
    body.update(extra)
    return body


def validation_message(exc: RequestValidationError) -> str:
    """One precise line per bad parameter: where, what is wrong, the value seen (cut to 60
    characters: a 10 KB phone number is not echoed back)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        value = err.get("input")
        shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:57]}…"
        seen = "" if value is None or isinstance(value, dict) else f" (got {shown})"
        parts.append(f"{where}: {err.get('msg', 'invalid')}{seen}")
    return "; ".join(parts) or "invalid request"


OGC_CODES: dict[int, str] = {
    400: "InvalidParameterValue", 401: "AuthenticationRequired", 403: "Forbidden",
    404: "NotFound", 413: "PayloadTooLarge", 500: "InternalError", 503: "ServiceUnavailable",
}  # fmt: skip
"""The ``code`` of an OGC exception body, by status."""


def ogc_error(request: Request, exc: BaseException) -> JSONResponse:
    """The response to ``exc`` on an OGC API route: the OGC exception body ``{code,
    description}`` (with ``detail`` and ``error`` as on every other route). OGC API Features
    says 400 where the rest of the service says 422 (an invalid or unknown parameter)."""
    if isinstance(exc, RequestValidationError):
        status, message = 400, validation_message(exc)
    elif isinstance(exc, StarletteHTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        found = status_for(exc)
        if found is None:
            logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
            found, exc = 500, ServiceError("internal error")
        status, message = (400 if found == 422 else found), str(exc)
    name = "ValidationError" if isinstance(exc, RequestValidationError) else type(exc).__name__
    body = {"code": OGC_CODES.get(status, "Error"), "description": message,
            "detail": message, "error": name}  # fmt: skip
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    return JSONResponse(body, status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def mapped(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status is None:
            logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error", "error": "InternalError"}, 500)
        headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(_body(exc), status, headers=headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        body = {"detail": validation_message(exc), "error": "ValidationError", "errors": errors}
        return JSONResponse(body, 422)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse({"detail": exc.detail, "error": "HTTPError"}, exc.status_code)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http)
    for klass in (ServiceError, gis_errors.WanggeError, gis_errors.InputTypeError, Exception):
        app.add_exception_handler(klass, mapped)
