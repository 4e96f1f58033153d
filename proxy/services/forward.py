"""Sending a caller's request on to RunPod: one shared pool, the endpoint's stored key, the shared rate budget.

The stored key never leaves this module's clients: it is not echoed in an answer (error bodies are scrubbed
by the client), not logged, and not part of any error message.
"""

import json
import math
import os
import threading
import time
from contextlib import contextmanager

from django.conf import settings

from jobs import runpod
from jobs.runpod.calls import WAIT_MAX_MS, WAIT_MIN_MS
from jobs.services.callcounts import calls_add, calls_take, retry_after_seconds
from proxy.errors import ProxyError

_http_lock = threading.Lock()
_http: dict = {}
_wait_slots: dict = {}
UNLIMITED = runpod.RateLimiter.unlimited()


def shared_http():
    """One httpx pool per process (made after gunicorn forks, so workers never share sockets)."""
    pid = os.getpid()
    with _http_lock:
        if _http.get("pid") != pid:
            _http.update(pid=pid, client=runpod.make_http(max_connections=settings.PROXY_MAX_CONNECTIONS))
        return _http["client"]


def client_for(endpoint) -> runpod.RunPodClient:
    """A client with the endpoint's stored key; no in-process limiter (the shared budget below decides) and one
    retry at most, and only where the client deems it safe (never a /run that may have arrived)."""
    return runpod.RunPodClient(
        endpoint.runpod_id,
        endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings.RUNPOD_TIMEOUT_SECONDS,
        max_retries=1,
        limiter=UNLIMITED,
        http=shared_http(),
    )


def _limit_per_10s(endpoint, bucket: str) -> int:
    if bucket == "status":
        return endpoint.status_rate_per_10s
    if bucket == "run":
        return endpoint.run_rate_per_10s
    return runpod.DEFAULT_LIMITS[bucket].per_10s or 1_000_000


def budget_take(endpoint, operation: str) -> None:
    """Count one call against the endpoint's budget for this operation, or refuse it with 429 and Retry-After.

    Counting first and giving the call back when over makes the check safe under concurrency: two threads at
    the edge may both be refused, never both let through.
    """
    bucket = runpod.OPERATION_BUCKETS[operation]
    allowed = math.floor(_limit_per_10s(endpoint, bucket) * settings.PROXY_RATE_LIMIT_SHARE)
    now = time.time()
    # Status calls also count the poller's own, reserved on the endpoint row by whoever holds its lease (read fresh
    # in the same statement: the endpoint object itself may be a few seconds old).
    used = calls_take(endpoint.pk, bucket, now_ts=now, with_reserved=bucket == "status")
    if used <= allowed:
        return
    calls_add(endpoint.pk, bucket, -1, now_ts=now)
    wait = retry_after_seconds(endpoint.pk, bucket, now_ts=now)
    message = f"rate limit exceeded for /{operation} on endpoint {endpoint.runpod_id}"
    raise ProxyError(429, message, headers={"Retry-After": str(wait)})


@contextmanager
def wait_allowance(requested_ms, default_ms: int):
    """The `wait` to forward for a long poll (/runsync, /status-sync, /stream), in ms.

    Each held call keeps a web thread busy for its wait, so a process lets at most PROXY_WAIT_SLOTS calls wait
    long at once, each at most PROXY_WAIT_MAX_MS; the others get RunPod's shortest wait (1 s). A shorter wait
    only means the caller polls again, which RunPod's clients do anyway.
    """
    wanted = _parse_wait(requested_ms, default_ms)
    short = WAIT_MIN_MS
    if wanted <= short:
        yield short
        return
    slots = _slots()
    if not slots.acquire(blocking=False):
        yield short
        return
    try:
        yield min(wanted, settings.PROXY_WAIT_MAX_MS)
    finally:
        slots.release()


def _slots() -> threading.BoundedSemaphore:
    pid = os.getpid()
    with _http_lock:
        if _wait_slots.get("pid") != pid or _wait_slots.get("size") != settings.PROXY_WAIT_SLOTS:
            _wait_slots.update(
                pid=pid, size=settings.PROXY_WAIT_SLOTS, sem=threading.BoundedSemaphore(settings.PROXY_WAIT_SLOTS)
            )
        return _wait_slots["sem"]


def _parse_wait(value, default_ms: int) -> int:
    try:
        wait = int(float(value)) if value not in (None, "") else default_ms
    except (TypeError, ValueError):
        wait = default_ms
    return max(WAIT_MIN_MS, min(WAIT_MAX_MS, wait))


def error_answer(exc: runpod.RunPodError) -> ProxyError:
    """RunPod's refusal as the caller should see it: RunPod's status and body, except where the fault is ours.

    A 401/403 means RunPod refused the dashboard's stored key, not the caller's token: that is a gateway fault
    (502), and saying 401 would send the caller looking at a token that is fine.
    """
    if isinstance(exc, runpod.AuthError):
        return ProxyError(502, "RunPod refused the dashboard's API key for this endpoint; an admin must update it.")
    if isinstance(exc, runpod.PayloadTooLargeError) and exc.status_code is None:
        return ProxyError(413, f"payload too large: {exc.size} bytes, the limit is {exc.limit}")
    if exc.status_code is None:
        timeout = "Timeout" in str(exc)
        return ProxyError(504 if timeout else 502, f"RunPod did not answer ({'timeout' if timeout else 'no answer'})")
    if isinstance(exc, runpod.BadResponseError) and 200 <= exc.status_code < 300:
        return ProxyError(502, "RunPod's answer could not be read")
    headers = {}
    if isinstance(exc, runpod.RateLimitedError) and exc.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
    return ProxyError(exc.status_code, str(exc), headers=headers, body=_body(exc.body))


def _body(text):
    try:
        data = json.loads(text or "")
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"error": text or "no body"}
