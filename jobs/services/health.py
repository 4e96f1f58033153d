"""Snapshots of /health for every enabled endpoint: the queue and worker time series."""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from jobs import runpod
from jobs.constants import HEALTH_COUNTS
from jobs.models import HealthSnapshot

from .aio import run_sync
from .clients import async_client_for
from .endpoints import StopReason, endpoint_flag, endpoints_pollable
from .storable import INT_RANGE, storable_int, storable_json

logger = logging.getLogger(__name__)


def health_store(endpoint, health, *, now=None) -> HealthSnapshot:
    now = now or timezone.now()
    counts = {name: storable_int(getattr(health, name), INT_RANGE) or 0 for name in HEALTH_COUNTS}
    snapshot = HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now, raw=storable_json(health.raw), **counts)
    type(endpoint).objects.filter(pk=endpoint.pk).update(last_health_at=now)
    return snapshot


def health_failed(endpoint, exc) -> None:
    # A 404 for /health itself means the endpoint id is wrong (for a job it means the job expired).
    reason = StopReason.MISSING if isinstance(exc, runpod.NotFoundError) else StopReason.for_error(exc)
    if reason:
        endpoint_flag(endpoint, reason, retry_after=getattr(exc, "retry_after", None))
    else:
        type(endpoint).objects.filter(pk=endpoint.pk).update(
            last_error=f"/health failed: {type(exc).__name__} {exc.status_code or ''}".strip(),
            last_error_at=timezone.now(),
        )


def endpoints_snapshot_health(endpoint_ids=None) -> int:
    """Read /health of every pollable endpoint concurrently; returns the number of snapshots stored."""
    endpoints = endpoints_pollable()
    if endpoint_ids is not None:
        endpoints = endpoints.filter(pk__in=endpoint_ids)
    endpoints = list(endpoints)
    if not endpoints:
        return 0
    return run_sync(_snapshot_all(endpoints))


async def _snapshot_all(endpoints) -> int:
    async with runpod.make_async_http(max_connections=max(10, len(endpoints))) as http:
        limiter = runpod.default_limiter()

        async def one(endpoint):
            try:
                health = await async_client_for(endpoint, http, limiter).health()
            except runpod.RunPodError as exc:
                await sync_to_async(health_failed)(endpoint, exc)
                return 0
            await sync_to_async(health_store)(endpoint, health)
            return 1

        stored = await asyncio.gather(*(one(e) for e in endpoints))
    return sum(stored)


def history_prune(now=None) -> dict:
    """Our own retention: delete finished jobs and snapshots older than the configured days (0 keeps all)."""
    from datetime import timedelta

    from jobs.models import Job

    now = now or timezone.now()
    deleted = {"jobs": 0, "snapshots": 0}
    if settings.JOB_RETENTION_DAYS:
        cutoff = now - timedelta(days=settings.JOB_RETENTION_DAYS)
        deleted["jobs"] = Job.objects.filter(created_at__lt=cutoff, next_poll_at__isnull=True).delete()[0]
    if settings.SNAPSHOT_RETENTION_DAYS:
        cutoff = now - timedelta(days=settings.SNAPSHOT_RETENTION_DAYS)
        deleted["snapshots"] = HealthSnapshot.objects.filter(taken_at__lt=cutoff).delete()[0]
    return deleted
