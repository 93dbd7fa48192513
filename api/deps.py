"""Dependencies: the app state, API-key roles and read tokens (:mod:`api.auth`).

Writes need a key holding the role (a read token never grants one). Reads are open unless
``settings.read_requires_key``; then they need a key or a read token. What is private by
default (room-level addresses) always needs one (:func:`private_read`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from api.auth import roles_of, token_roles
from api.errors import AuthForbiddenError, AuthMissingError, PayloadTooLargeError
from api.observability import key_id
from api.settings import Settings
from api.state import AppState

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
JOIN_IN_THREAD_BYTES = 2**20


async def get_state(request: Request) -> AppState:
    """The :class:`AppState` built by ``create_app``."""
    state: AppState = request.app.state.wangge
    return state


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    """The service settings."""
    return state.settings


def _roles(settings: Settings, key: str | None, *, tokens: bool = False) -> list[str]:
    if not key:
        raise AuthMissingError("this operation needs an API key in the X-API-Key header")
    roles = roles_of(settings, key)
    if roles is None and tokens:
        roles = token_roles(settings, key) or None
    if roles is None:
        what = "API key or read token (expired?)" if tokens else "API key"
        raise AuthMissingError(f"unknown {what}")
    return roles


def require_role(role: str) -> Callable[..., Awaitable[None]]:
    """A dependency refusing requests whose key lacks ``role`` (401 no key, 403 wrong role)."""

    async def check(
        settings: Annotated[Settings, Depends(get_settings)],
        key: Annotated[str | None, Security(api_key_header)],
    ) -> None:
        if role not in _roles(settings, key):
            raise AuthForbiddenError(f"the API key lacks the {role!r} role")

    return check


DRAFT_ROLES = ("publisher", "author", "reviewer")
"""Roles whose keys may read versions not yet approved (drafts, submitted, rejected)."""


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who sent a write: the key's id (a hash, never the key) and its roles."""

    key_id: str
    roles: tuple[str, ...]


def require_any_role(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting keys holding one of ``roles`` (401 no key, 403 none of them);
    it gives the route the :class:`Caller`, so steps can be told apart by key."""

    async def check(
        settings: Annotated[Settings, Depends(get_settings)],
        key: Annotated[str | None, Security(api_key_header)],
    ) -> Caller:
        held = _roles(settings, key)
        if not set(roles) & set(held):
            raise AuthForbiddenError(f"the API key holds none of the roles {list(roles)}")
        return Caller(key_id=str(key_id(key)), roles=tuple(held))

    return check


async def may_read_drafts(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(api_key_header)],
) -> bool:
    """Whether the request's key may read versions in review (:data:`DRAFT_ROLES`, or a
    read token traded for such a key); no key or another role: False (the route then shows
    approved versions only)."""
    held = (roles_of(settings, key) or token_roles(settings, key)) if key else None
    return bool(held and {*DRAFT_ROLES, "drafts"} & set(held))


async def read_access(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(api_key_header)],
) -> None:
    """Open reads, or (``read_requires_key``) any known key or a valid read token."""
    if settings.read_requires_key:
        _roles(settings, key, tokens=True)


async def may_read_private(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(api_key_header)],
) -> bool:
    """Whether the request carries a known key or a valid read token (what reads of private
    data need, e.g. a past roster); no error either way: the route decides."""
    return bool(key and (roles_of(settings, key) is not None or token_roles(settings, key)))


async def private_read(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(api_key_header)],
) -> None:
    """Reads of data private by default (room-level addresses): a known key or read token,
    whatever ``read_requires_key`` says."""
    _roles(settings, key, tokens=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes; the event loop
    only collects chunks (parsing is for a worker thread or process)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            msg = f"request body exceeds the limit of {limit} bytes"
            raise PayloadTooLargeError(msg)
        chunks.append(chunk)
    if size > JOIN_IN_THREAD_BYTES:  # copying megabytes together is for a worker thread too
        return await run_in_threadpool(b"".join, chunks)
    return b"".join(chunks)


State = Annotated[AppState, Depends(get_state)]
DraftReader = Annotated[bool, Depends(may_read_drafts)]
PrivateReader = Annotated[bool, Depends(may_read_private)]
