"""Rate limits on batch lookups: a token bucket per API key, or per client address.

A batch may hold 2,000,000 points, so how often one caller may send them is limited:
``settings.batch_burst`` batches at once, then ``settings.batch_rate_per_s`` per second on
average (0: no limit). A request over the limit is refused with 429 and ``Retry-After`` (whole
seconds until the bucket holds a batch again), before its body is read.

Whose bucket: a configured API key's own (by a hash of the key); anyone else's (no key, an
unknown key, a read token) is their client address's, so sending made-up keys or minting
tokens gives no fresh bucket. The buckets live on the app (:class:`RateLimiter` on
``app.state``), at most :data:`MAX_BUCKETS` of them: the least recently seen is forgotten
first (it would have refilled by then, or nearly).

Routes take the limit as a dependency, ``dependencies=[Depends(batch_limit)]``;
:func:`install` adds the 429 answer to their OpenAPI description.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import FastAPI, Request, Security
from fastapi.routing import APIRoute

from api.auth import roles_of
from api.deps import api_key_header
from api.errors import RateLimitedError
from api.observability import key_id
from api.responses import ERROR_REF, declare
from api.settings import Settings

MAX_BUCKETS: Final = 10_000
RESPONSE_429: Final[dict[str, Any]] = {
    "description": "Too many batches: wait the seconds in Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}},
    "content": {"application/json": {"schema": ERROR_REF}},
}


@dataclass
class RateLimiter:
    """Token buckets by caller: each holds up to ``burst`` tokens and gains ``rate_per_s``
    tokens per second; a request takes one.

    Parameters
    ----------
    rate_per_s
        Tokens a bucket gains per second (0: no limit).
    burst
        Tokens a full bucket holds.
    max_buckets
        Buckets kept; the least recently used is dropped beyond.
    """

    rate_per_s: float
    burst: int
    max_buckets: int = MAX_BUCKETS
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The batch limiter ``settings`` ask for."""
        return cls(rate_per_s=settings.batch_rate_per_s, burst=settings.batch_burst)

    def take(self, who: str, now: float) -> float:
        """Take a token from ``who``'s bucket (``now``: monotonic seconds).

        Returns
        -------
        float
            0 when a token was taken, else the seconds until the bucket holds one.
        """
        if self.rate_per_s <= 0:
            return 0.0
        with self._lock:
            tokens, then = self._buckets.pop(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate_per_s
            self._buckets[who] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        return wait


def caller(settings: Settings, key: str | None, client: str | None) -> str:
    """Whose bucket a request takes from: ``key:<hash>`` for a configured API key, else
    ``addr:<client address>``."""
    if key and roles_of(settings, key) is not None:
        return f"key:{key_id(key)}"
    return f"addr:{client or 'unknown'}"


async def batch_limit(
    request: Request, key: Annotated[str | None, Security(api_key_header)]
) -> None:
    """A dependency: refuse (429, ``Retry-After``) a batch over its caller's rate.

    Raises
    ------
    RateLimitedError
        The caller's bucket is empty.
    """
    limiter: RateLimiter = request.app.state.batch_limiter
    settings: Settings = request.app.state.wangge.settings
    who = caller(settings, key, request.client.host if request.client else None)
    wait_s = limiter.take(who, time.monotonic())
    if wait_s > 0:
        retry_s = max(1, math.ceil(wait_s))
        msg = (
            f"批量查询过于频繁，请 {retry_s} 秒后重试 (too many batch lookups: at most "
            f"{limiter.burst} at once, then {limiter.rate_per_s:g} per second; retry in "
            f"{retry_s} s)"
        )
        raise RateLimitedError(msg, retry_after_s=retry_s)


def install(app: FastAPI, settings: Settings) -> None:
    """Put the batch limiter on ``app`` and document 429 on every route that takes it."""
    app.state.batch_limiter = RateLimiter.from_settings(settings)

    def answers(route: APIRoute) -> dict[int, dict[str, Any]]:
        limited = any(d.dependency is batch_limit for d in route.dependencies)
        return {429: RESPONSE_429} if limited else {}

    declare(app, answers)
