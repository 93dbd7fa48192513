"""Short-lived read tokens: what the web map sends when reads need a key.

The page asks its user for a key once, trades it here for a token (``POST /auth/token`` with
``X-API-Key``), keeps only the token, and trades the token for a fresh one before it expires.
A token reads; it never publishes or edits (:mod:`api.auth`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Security

from api.auth import issue_token, roles_of, token_roles
from api.deps import DRAFT_ROLES, State, api_key_header
from api.errors import AuthMissingError
from api.schemas import TokenOut

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
def read_token(state: State, key: Annotated[str | None, Security(api_key_header)]) -> TokenOut:
    """A read token for the key (any role) or the unexpired token in ``X-API-Key``; it reads
    drafts too when the key may (author, reviewer, publisher) or the token did."""
    settings = state.settings
    held = (roles_of(settings, key) or token_roles(settings, key)) if key else []
    if not held:
        raise AuthMissingError("a read token needs a valid API key (or token) in X-API-Key")
    drafts = bool(set(held) & {*DRAFT_ROLES, "drafts"})
    token, expires = issue_token(settings, drafts=drafts)
    return TokenOut(
        token=token,
        expires_at=datetime.fromtimestamp(expires, UTC),
        expires_in=settings.token_ttl_s,
        roles=token_roles(settings, token),
    )
