"""Building RunPod clients from Endpoint rows (the client itself knows nothing of models)."""

import contextlib
from contextvars import ContextVar

from django.conf import settings

from jobs import runpod

# A pool the sync clients made inside `shared_pool()` use: a new httpx.Client costs ~60 ms of CPU (its TLS context),
# more than the action itself when a bulk action makes a thousand calls.
_shared_http: ContextVar = ContextVar("shared_http", default=None)


@contextlib.contextmanager
def shared_pool():
    """Every client_for() inside shares one connection pool, closed at the end."""
    with runpod.make_http() as http:
        token = _shared_http.set(http)
        try:
            yield http
        finally:
            _shared_http.reset(token)


def client_for(endpoint, *, max_retries=2) -> runpod.RunPodClient:
    """A sync client for one action from a web request or task (on the shared pool inside shared_pool())."""
    return runpod.RunPodClient(
        endpoint.runpod_id,
        endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings.RUNPOD_TIMEOUT_SECONDS,
        max_retries=max_retries,
        http=_shared_http.get(),
    )


def async_client_for(endpoint, http, limiter) -> runpod.AsyncRunPodClient:
    """An async client for the poller: no retries of its own (the poller reschedules), a shared pool and limiter."""
    return runpod.AsyncRunPodClient(
        endpoint.runpod_id,
        endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings.RUNPOD_TIMEOUT_SECONDS,
        max_retries=0,
        limiter=limiter,
        http=http,
    )
