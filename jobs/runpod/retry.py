"""When to send a request again, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .calls import Call
from .errors import RateLimitedError, RunPodError, TransientError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a 429's Retry-After is honoured up to `retry_after_cap`."""

    base: float = 0.25
    cap: float = 8.0
    retry_after_cap: float = 60.0

    def should_retry(self, call: Call, error: RunPodError) -> bool:
        """429 always (it was refused, not processed); a request that never left always; the rest only if idempotent."""
        if isinstance(error, RateLimitedError):
            return True
        if not isinstance(error, TransientError):
            return False
        return call.idempotent or not error.request_sent

    def delay(self, attempt: int, error: RunPodError) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))
