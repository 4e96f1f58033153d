"""A bulk cancel on real parts: a Celery worker on the real Redis broker, killed mid-batch and replaced, against
the simulator's documented /cancel limit. Every job must end CANCELLED once, with no 429 and no second action."""

import pytest
from django.conf import settings
from django.db.models import Count

from jobs import selectors, services
from jobs.models import AuditEntry, BulkAction, BulkItem, Job, StatusTransition
from tests.celery_worker import CeleryWorker
from tests.factories import make_sim_jobs
from tests.utils import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOBS = 120  # more than the 90 a rate window lets us send (RATE_LIMIT_SHARE of 100), so the pacing is exercised


def cancel_calls(stats, endpoint):
    return stats["requests"].get(endpoint.runpod_id, {}).get("cancel", 0)


def test_a_bulk_cancel_survives_a_killed_worker_without_acting_twice(sim, sim_endpoint, operator):
    """Kill the worker mid-batch: a new one finishes it; each job is cancelled once, inside the rate limit."""
    jobs = make_sim_jobs(sim_endpoint, JOBS)
    before = sim.stats()
    worker = CeleryWorker().start()
    try:
        bulk = services.bulk_start(
            kind="cancel",
            filters=selectors.JobFilters(endpoint_id=sim_endpoint.pk),
            confirm=str(JOBS),
            user=operator,
        )
        wait_for(
            lambda: BulkItem.objects.filter(bulk=bulk, state="done").count() >= 30,
            timeout=120,
            message="the first worker to cancel 30 jobs",
        )
        worker.kill()
        worker = CeleryWorker().start()
        wait_for(
            lambda: BulkAction.objects.get(pk=bulk.pk).state == "done",
            timeout=240,
            interval=0.5,
            message="the second worker to finish the batch",
        )
        # A job that started between our read and /cancel gets its CANCELLED from the poller's next read.
        wait_for(
            lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], status="CANCELLED").count() == JOBS,
            timeout=30,
            message="every job CANCELLED here",
        )
    finally:
        worker.stop()
    counts = dict(BulkItem.objects.filter(bulk=bulk).values_list("state").annotate(n=Count("id")).order_by())
    others = BulkItem.objects.filter(bulk=bulk).exclude(state="done").values_list("state", "reason", "job__status")
    assert counts == {"done": JOBS}, (counts, list(others))
    # Once each (the poller may record it first if the job moved between our read and our write).
    cancelled = StatusTransition.objects.filter(job__in=jobs, to_status="CANCELLED")
    assert cancelled.count() == JOBS
    assert AuditEntry.objects.filter(job__in=jobs, action="cancel", outcome="ok").count() == JOBS
    assert AuditEntry.objects.filter(action="bulk_cancel").count() == 1
    after = sim.stats()
    calls = cancel_calls(after, sim_endpoint) - cancel_calls(before, sim_endpoint)
    # At most the calls in flight when the worker died (one per acting thread) go out twice: /cancel is idempotent.
    assert JOBS <= calls <= JOBS + settings.BULK_CONCURRENCY, calls
    assert after["responses"].get("429", 0) == before["responses"].get("429", 0)
