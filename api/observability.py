"""Request ids, structured access logs and Prometheus metrics: one ASGI middleware.

Every HTTP request gets a request id: the client's ``X-Request-ID`` when it is sane (1–128
characters of letters, digits and ``. _ : -``), else a new random one. It is echoed in the
response's ``X-Request-ID`` header and written in the request's access-log line.

The access log is one JSON object per request on the ``api.access`` logger::

    {"method": "GET", "path": "/lookup", "route": "/lookup", "status": 200,
     "duration_ms": 1.84, "request_id": "…", "key_id": "3f2a…", "client": "127.0.0.1"}

``key_id`` is the first 16 hex digits of the SHA-256 of the ``X-API-Key`` sent (null without
one): the same key gives the same id, and the key itself is never written. The query string is
left out of ``path`` (it may hold an address). uvicorn's own access log stays off
(:mod:`api.server`): this line replaces it.

Metrics live in one :class:`prometheus_client.CollectorRegistry` per app (:class:`Metrics`),
served at ``/metrics`` (:mod:`api.ops`); no global registry is touched, so two apps in one
process (the tests) count apart.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER: Final = "api.access"
REQUEST_ID_HEADER: Final = "X-Request-ID"
SANE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_LOGGED_PATH: Final = 256
LATENCY_BUCKETS_S: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
LOOKUP_ROUTES: Final = frozenset(
    {"/lookup", "/lookup/batch", "/lookup/address", "/lookup/address/batch"}
)
"""Route templates whose answered requests count as lookups."""
METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
"""Method labels kept as sent (any other is ``OTHER``: labels must not grow unbounded)."""
OUTSIDE_ERROR: Final = b'"PointOutsideGridsError"'
"""In the 404 body of a point outside every grid (not of a missing version)."""


@dataclass(frozen=True)
class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    Attributes
    ----------
    registry
        What ``/metrics`` exposes.
    requests
        ``wangge_http_requests_total{method, route, status}``: requests by route template.
    latency
        ``wangge_http_request_duration_seconds{method, route}``: time to the last byte.
    lookups
        ``wangge_lookups_total{route, outcome}``: lookup requests answered. On ``/lookup``
        each is one point located: ``inside`` a grid (200) or ``outside`` every grid (204,
        or a 404 that says so); the batch and address routes count ``answered`` requests.
    reloads
        ``wangge_index_reloads_total``: times the live index moved to another version.
    """

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    lookups: Counter
    reloads: Counter

    @classmethod
    def create(cls) -> Metrics:
        """Fresh metrics in a new registry."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "wangge_http_requests",
                "HTTP requests by method, route template and status",
                ["method", "route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "wangge_http_request_duration_seconds",
                "Time from the request to the last byte of the answer",
                ["method", "route"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            lookups=Counter(
                "wangge_lookups",
                "Lookup requests answered, by route and outcome (/lookup: one point each)",
                ["route", "outcome"],
                registry=registry,
            ),
            reloads=Counter(
                "wangge_index_reloads",
                "Times the live index moved to another plan version",
                registry=registry,
            ),
        )

    def observe(
        self, method: str, route: str, status: int, duration_s: float, *, outside: bool = False
    ) -> None:
        """Count one finished request (``outside``: its answer says the point is outside
        every grid). A method outside the HTTP standard ones counts as ``OTHER``."""
        method = method if method in METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(duration_s)
        if route == "/lookup" and (status == 200 or outside):
            self.lookups.labels(route, "outside" if outside else "inside").inc()
        elif route in LOOKUP_ROUTES and 200 <= status < 300:
            self.lookups.labels(route, "answered").inc()

    def index_reloaded(self, version_id: int) -> None:
        """A hook for :class:`api.live.LivePoller`: the live index moved to ``version_id``."""
        self.reloads.inc()


def key_id(key: str | None) -> str | None:
    """What the access log says of an API key: 16 hex digits of its SHA-256 (None: no key)."""
    if not key:
        return None
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def request_id_from(given: str | None) -> str:
    """The client's request id when sane, else a new random one (32 hex digits)."""
    if given is not None and SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def route_of(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The route template a request matched (``/grids/{grid_code}/staff``), or a fixed label:
    ``<preflight>`` for a CORS preflight answered before routing, ``<unmatched>`` else (raw
    paths never become labels: one per URL would grow without bound).

    API routes name themselves in the scope; ``routes`` (plain Starlette routes, such as
    ``/openapi.json``) are matched again here when none did.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in routes:
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and candidate.matches(scope)[0] is Match.FULL:
            return path
    headers = Headers(scope=scope)
    if scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
        return "<preflight>"
    return "<unmatched>"


class StderrHandler(logging.Handler):
    """Writes each record as one line to the ``sys.stderr`` of the moment (so a test runner
    that swaps the stream gets the lines, and a closed old stream is never written to)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline."""
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a broken stream must not break the request
            self.handleError(record)


def access_logger(enabled: bool) -> logging.Logger | None:
    """The ``api.access`` logger (None: access logging off).

    When nothing configured that logger, it gets a line-per-record handler on stderr at INFO
    and stops propagating (so the root logger's WARNING level does not swallow it and its
    format does not wrap the JSON); a logger configured by the deployment is left as it is.
    """
    if not enabled:
        return None
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers and logger.level == logging.NOTSET:
        logger.addHandler(StderrHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class ObservabilityMiddleware:
    """ASGI middleware: request id in and out, one access-log line, request metrics.

    Parameters
    ----------
    app
        The application it wraps.
    metrics
        Where requests are counted.
    logger
        The access logger (None: no access log).
    routes
        Plain routes to name in metrics and logs (API routes name themselves).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        logger: logging.Logger | None,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, timing it and counting it whatever happens."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        outside = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, outside
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                outside = status == 204
            elif status == 404 and OUTSIDE_ERROR in message.get("body", b""):
                outside = True  # a small JSON error body (api.errors)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_s = time.perf_counter() - start
            route = route_of(scope, self.routes)
            self.metrics.observe(scope["method"], route, status, duration_s, outside=outside)
            if self.logger is not None and self.logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "method": scope["method"], "path": scope["path"][:MAX_LOGGED_PATH],
                    "route": route, "status": status, "duration_ms": round(duration_s * 1e3, 2),
                    "request_id": request_id, "key_id": key_id(headers.get("x-api-key")),
                    "client": client[0] if client else None,
                }  # fmt: skip
                self.logger.info(orjson.dumps(line).decode())
