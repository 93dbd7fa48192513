"""Dependencies: the app state, API-key roles, and the request-size guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import AuthForbiddenError, AuthMissingError
from api.settings import Settings
from api.state import AppState

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_state(request: Request) -> AppState:
    """The :class:`AppState` built by ``create_app``."""
    state: AppState = request.app.state.wangge
    return state


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    """The service settings."""
    return state.settings


def _roles(settings: Settings, key: str | None) -> list[str]:
    if not key:
        raise AuthMissingError("this operation needs an API key in the X-API-Key header")
    roles = settings.api_keys.get(key)
    if roles is None:
        raise AuthMissingError("unknown API key")
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


async def read_access(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(api_key_header)],
) -> None:
    """Open reads, or (``read_requires_key``) any known key."""
    if settings.read_requires_key:
        _roles(settings, key)


State = Annotated[AppState, Depends(get_state)]
