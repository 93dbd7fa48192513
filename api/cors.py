"""Cross-origin requests: reads from any origin, writes from none (both configurable).

A browser page on another origin (a street office's own system) may *read*: ``GET``, ``HEAD``,
``OPTIONS`` and the POSTs that change nothing (:data:`READ_POSTS`: batch lookups, a read
token), from the origins in ``settings.cors_read_origins`` (``["*"]`` by default). It may
*write* (publish, drafts and reviews, staff, addresses: every other POST, PUT, PATCH, DELETE)
only from ``settings.cors_write_origins`` (none by default).

One Starlette :class:`~starlette.middleware.cors.CORSMiddleware` cannot say that (its origins
hold for every method and path), so :class:`SplitCORS` holds two and hands each request to
one: the read policy or the write policy, by the method (for a preflight, the method the
browser asks for in ``Access-Control-Request-Method``) and the path. A preflight the policy
refuses is answered 400 without any ``Access-Control-Allow-*`` header, so the browser does
not send the request. Keys travel in ``X-API-Key``, never in cookies: no credentials mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS: Final = frozenset({"/lookup/batch", "/lookup/address/batch", "/auth/token"})
"""POST routes that read: they locate or match what they are sent, or issue a read token."""
WRITE_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")
ALLOW_HEADERS: Final = ("Content-Type", "X-API-Key", "X-Request-ID")
EXPOSE_HEADERS: Final = ("X-Request-ID", "Retry-After", "Content-Crs", "Link")
PREFLIGHT_MAX_AGE_S: Final = 600


def is_read(scope: Scope) -> bool:
    """Whether an HTTP request (or the request a preflight announces) only reads."""
    method = str(scope["method"]).upper()
    if method == "OPTIONS":
        asked = Headers(scope=scope).get("access-control-request-method")
        method = asked.strip().upper() if asked else method
    if method in READ_METHODS:
        return True
    path = str(scope["path"]).removeprefix(str(scope.get("root_path", "")))
    return method == "POST" and path in READ_POSTS


class SplitCORS:
    """Two CORS policies, one for reads and one for writes (see the module).

    Parameters
    ----------
    app
        The application it wraps.
    read_origins
        Origins allowed to read (``"*"``: any).
    write_origins
        Origins allowed to write (empty: none).
    """

    def __init__(
        self, app: ASGIApp, *, read_origins: Sequence[str], write_origins: Sequence[str]
    ) -> None:
        self.app = app
        self.reads = CORSMiddleware(
            app,
            allow_origins=read_origins,
            allow_methods=[*READ_METHODS, "POST"],
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_S,
        )
        self.writes = CORSMiddleware(
            app,
            allow_origins=write_origins,
            allow_methods=WRITE_METHODS,
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand an HTTP request to the read or the write policy."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.reads if is_read(scope) else self.writes
        await policy(scope, receive, send)
