"""Per-token request limits: a fixed window counted in the shared cache, so every web process counts together."""

import time

from django.conf import settings
from django.core.cache import cache

from .errors import RateLimited


def rate_limit_check(identity: str) -> None:
    """Count one request for the identity (a token, or a session's user); raise RateLimited past the limit.

    A fixed window is enough here: it bounds a runaway script, and the answer says exactly when to come back.
    """
    limit, window = settings.API_RATE_LIMIT, settings.API_RATE_WINDOW
    if limit <= 0:
        return
    now = time.time()
    slot = int(now // window)
    key = f"api:rate:{identity}:{slot}"
    # add() only creates the key, so the first request of a window sets its expiry; incr() is atomic on Redis.
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=window + 1)
        count = 1
    if count > limit:
        raise RateLimited(max(1, int((slot + 1) * window - now + 0.999)))
