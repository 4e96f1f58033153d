"""Fixtures for the alerts tests: health snapshots and jobs in the states the rules look at."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import HealthSnapshot, StatusTransition
from tests.factories import make_job

WORKERS = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")


def snapshot(endpoint, *, ago=5, in_queue=0, **workers):
    """A /health answer taken `ago` seconds back with these worker counts (others 0)."""
    counts = {f"workers_{name}": workers.get(name, 0) for name in WORKERS}
    return HealthSnapshot.objects.create(
        endpoint=endpoint, taken_at=timezone.now() - timedelta(seconds=ago), jobs_in_queue=in_queue, **counts
    )


def queued(endpoint, *, waited, count=1):
    """Jobs IN_QUEUE at RunPod for `waited` seconds, polled recently."""
    now = timezone.now()
    return [
        make_job(
            endpoint,
            status="IN_QUEUE",
            submitted_at=now - timedelta(seconds=waited),
            seen_at=now - timedelta(seconds=waited),
            next_poll_at=now + timedelta(seconds=5),
            last_polled_at=now,
        )
        for _ in range(count)
    ]


def finished(endpoint, *, status="COMPLETED", ago=10, error_raw="", **fields):
    now = timezone.now()
    job = make_job(
        endpoint,
        status=status,
        finished_at=now - timedelta(seconds=ago),
        archived=True,
        error_raw=error_raw,
        next_poll_at=None,
        **fields,
    )
    StatusTransition.objects.create(
        job=job, from_status="IN_PROGRESS", to_status=status, at=job.finished_at, source="poll"
    )
    return job


@pytest.fixture
def fresh_poll(db):
    """Polling is alive: a poll round finished just now."""
    from alerts.services import poll_heartbeat

    poll_heartbeat()
