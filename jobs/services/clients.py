"""Building RunPod clients from Endpoint rows (the client itself knows nothing of models)."""

from django.conf import settings

from jobs import runpod


def client_for(endpoint, *, max_retries=2) -> runpod.RunPodClient:
    """A sync client for one action from a web request or task."""
    return runpod.RunPodClient(
        endpoint.runpod_id,
        endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings.RUNPOD_TIMEOUT_SECONDS,
        max_retries=max_retries,
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
