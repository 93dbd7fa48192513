"""API keys and short-lived read tokens, both compared in constant time.

Keys come from ``settings.api_keys`` (key → roles). :func:`roles_of` compares the key given
with *every* configured key by :func:`hmac.compare_digest` and never stops early, so the time
taken says nothing about how much of a key was right.

A read token lets the web map work when reads need a key (``read_requires_key``) without the
page ever keeping the key: the page sends the key once to ``POST /auth/token`` and gets a
token that is good for reading only, for ``settings.token_ttl_s`` seconds. A token is
``r1.<expiry unix seconds>.<nonce>.<signature>`` (``d1.…`` when traded for a key that may
read drafts: then it reads versions in review too), the signature an HMAC-SHA256 over the rest
with a secret that is ``settings.token_secret`` or, when unset, derived from the configured
keys (so every worker process agrees, and changing the keys ends every token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Final

from api.settings import Settings

TOKEN_PREFIX: Final = "r1"
TOKEN_ROLES: Final = ("reader",)
"""What a read token grants: reading, never publishing or editing."""
DRAFT_TOKEN_PREFIX: Final = "d1"
DRAFT_TOKEN_ROLES: Final = ("reader", "drafts")
"""What a read token traded for a key that may read drafts (author, reviewer, publisher)
grants: reading, versions in review included; still never writing."""


def roles_of(settings: Settings, key: str | None) -> list[str] | None:
    """The roles of an API key (None: no such key), comparing with every key in constant time.

    Parameters
    ----------
    settings
        Holds ``api_keys``.
    key
        The key the client sent (``X-API-Key``).
    """
    if not key:
        return None
    given = key.encode("utf-8", "surrogateescape")
    found: list[str] | None = None
    for known, roles in settings.api_keys.items():
        if hmac.compare_digest(given, known.encode("utf-8", "surrogateescape")):
            found = list(roles)
    return found


def _secret(settings: Settings) -> bytes:
    if settings.token_secret:
        return settings.token_secret.encode()
    keys = json.dumps(sorted(settings.api_keys.items()), ensure_ascii=False).encode()
    return hashlib.sha256(b"wangge read token\0" + keys).digest()


def _sign(settings: Settings, body: str) -> str:
    digest = hmac.new(_secret(settings), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_token(
    settings: Settings, *, drafts: bool = False, now: float | None = None
) -> tuple[str, int]:
    """A new read token (one that also reads drafts, with ``drafts``) and its expiry (unix
    seconds)."""
    expires = int((time.time() if now is None else now) + settings.token_ttl_s)
    prefix = DRAFT_TOKEN_PREFIX if drafts else TOKEN_PREFIX
    body = f"{prefix}.{expires}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_sign(settings, body)}", expires


def token_roles(settings: Settings, token: str | None, *, now: float | None = None) -> list[str]:
    """The roles a read token grants (:data:`TOKEN_ROLES`, or :data:`DRAFT_TOKEN_ROLES`), or
    none when it is not a token this service signed, or it has expired."""
    if not token or not token.startswith((TOKEN_PREFIX + ".", DRAFT_TOKEN_PREFIX + ".")):
        return []
    body, _, signature = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return []
    if not hmac.compare_digest(signature.encode(), _sign(settings, body).encode()):
        return []
    if int(parts[1]) < (time.time() if now is None else now):
        return []
    return list(DRAFT_TOKEN_ROLES if parts[0] == DRAFT_TOKEN_PREFIX else TOKEN_ROLES)
