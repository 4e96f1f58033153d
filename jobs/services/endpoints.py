"""An endpoint's side of polling: who holds it, how many status calls it may still make, and why it was stopped.

- One poller holds an endpoint at a time: a lease on the Endpoint row that runs out if its worker dies.
- The holder reserves its status calls in per-second counts on the same row, so every worker together stays
  inside the endpoint's documented limit (times RATE_LIMIT_SHARE).
- When RunPod refuses the key, rate limits the endpoint or does not know it, the endpoint is flagged with a
  StopReason: pages warn, and the next ticks skip it or back off.
"""

import math
import time
import uuid
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from jobs import runpod
from jobs.models import Endpoint

from .callcounts import calls_used

# RunPod counts its limits over 10 s windows.
WINDOW_SECONDS = 10
# After a 401 we look again this often, in case the key was fixed at RunPod's side.
AUTH_RETRY = timedelta(minutes=5)
# A wait longer than one rate window buys no more room, and a minute's wait would outlast a runsync result.
ENDPOINT_BACKOFF_MAX = 10.0


class StopReason(StrEnum):
    """Why polling an endpoint stopped before nothing was due (its values are what logs and benchmarks show)."""

    AUTH = "auth"  # RunPod refused the API key (401)
    RATE = "rate"  # RunPod rate limited the endpoint (429)
    MISSING = "missing"  # RunPod does not know the endpoint id (404 on /health too)
    BUDGET = "budget"  # our share of the endpoint's status limit is spent for this window

    @classmethod
    def for_error(cls, exc) -> "StopReason | None":
        """The reason an error from RunPod stops the whole endpoint, or None when it concerns one call only."""
        if isinstance(exc, runpod.AuthError):
            return cls.AUTH
        if isinstance(exc, runpod.RateLimitedError):
            return cls.RATE
        return None


# --- Leases ----------------------------------------------------------------------------------------------------


def endpoint_acquire(endpoint_id, *, seconds, now=None) -> str | None:
    """Hold an endpoint for polling; returns the lease token, or None when another poller holds it."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    won = (
        Endpoint.objects.filter(pk=endpoint_id)
        .filter(Q(poll_lock_until__isnull=True) | Q(poll_lock_until__lt=now))
        .update(poll_lock_until=now + timedelta(seconds=seconds), poll_lock_token=token)
    )
    return token if won else None


def endpoint_renew(endpoint_id, token, *, seconds) -> bool:
    until = timezone.now() + timedelta(seconds=seconds)
    return bool(Endpoint.objects.filter(pk=endpoint_id, poll_lock_token=token).update(poll_lock_until=until))


def endpoint_release(endpoint_id, token) -> None:
    Endpoint.objects.filter(pk=endpoint_id, poll_lock_token=token).update(poll_lock_until=None, poll_lock_token="")


# --- The shared status budget ----------------------------------------------------------------------------------


def status_budget(endpoint, *, now_ts=None) -> int:
    """Status calls this endpoint may still take in the current 10 s window (our share of its limit)."""
    now_ts = now_ts if now_ts is not None else time.time()
    used = sum(n for second, n in endpoint.status_calls.items() if int(second) > now_ts - WINDOW_SECONDS - 1)
    # The proxy's callers read statuses and streams of the same endpoint: their calls count too.
    used += calls_used(endpoint.pk, "status", now_ts=now_ts)
    allowed = math.floor(endpoint.status_rate_per_10s * settings.RATE_LIMIT_SHARE)
    return max(0, allowed - used)


def status_reserve(endpoint, token, count, *, now_ts=None) -> None:
    """Count calls against the window before making them (the holder of the lease is the only writer)."""
    now_ts = now_ts if now_ts is not None else time.time()
    second = str(int(now_ts))
    calls = {s: n for s, n in endpoint.status_calls.items() if int(s) > now_ts - WINDOW_SECONDS - 1}
    calls[second] = calls.get(second, 0) + count
    endpoint.status_calls = calls
    Endpoint.objects.filter(pk=endpoint.pk, poll_lock_token=token).update(status_calls=calls)


# --- Flags -----------------------------------------------------------------------------------------------------


def endpoint_flag(endpoint, reason: StopReason | None, *, retry_after: float | None = None) -> None:
    """Record why polling an endpoint stopped, so pages can warn and the next ticks back off."""
    now = timezone.now()
    fields = {"last_error_at": now}
    if reason == StopReason.AUTH:
        fields.update(auth_failed_at=endpoint.auth_failed_at or now, last_error="RunPod refused the API key (401).")
    elif reason == StopReason.RATE:
        count = endpoint.backoff_count + 1
        wait = retry_after or min(ENDPOINT_BACKOFF_MAX, 2.0**count)
        fields.update(
            backoff_count=count,
            backoff_until=now + timedelta(seconds=wait),
            last_error=f"RunPod is rate limiting this endpoint (429); backing off {wait:.0f} s.",
        )
    elif reason == StopReason.MISSING:
        fields.update(not_found_at=now, last_error="RunPod does not know this endpoint id (404).")
    else:
        return
    counted = {"rate_limited_total": F("rate_limited_total") + 1} if reason == StopReason.RATE else {}
    Endpoint.objects.filter(pk=endpoint.pk).update(**fields, **counted)
    for name, value in fields.items():
        setattr(endpoint, name, value)


def endpoint_mark_ok(endpoint) -> None:
    """A batch went through: clear the flags (a fixed key, a lifted limit) and note when it was polled."""
    now = timezone.now()
    if endpoint.auth_failed_at or endpoint.backoff_count or endpoint.not_found_at:
        Endpoint.objects.filter(pk=endpoint.pk).update(
            auth_failed_at=None, backoff_count=0, backoff_until=None, not_found_at=None, last_poll_at=now
        )
        endpoint.auth_failed_at = endpoint.not_found_at = endpoint.backoff_until = None
        endpoint.backoff_count = 0
    else:
        Endpoint.objects.filter(pk=endpoint.pk).update(last_poll_at=now)


def endpoints_pollable(now=None):
    """Enabled endpoints not backing off (a refused key is tried again every AUTH_RETRY)."""
    now = now or timezone.now()
    return (
        Endpoint.objects.filter(enabled=True)
        .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
        .filter(Q(auth_failed_at__isnull=True) | Q(last_error_at__lte=now - AUTH_RETRY))
    )
