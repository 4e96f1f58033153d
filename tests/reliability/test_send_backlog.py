"""A backlog of sends (thousands of jobs submitted at once) must neither starve polling nor flood the broker:
beat's ticks jump the queue, and a job still waiting in the queue is not enqueued again every tick."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.celery import app as celery_app
from jobs.models import JobStatus
from jobs.services import jobs_send_lost
from jobs.tasks import health_tick, poll_tick, send_job
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


def pending_jobs(count, *, age):
    endpoint = make_endpoint()
    created = timezone.now() - age
    return [
        make_job(endpoint, runpod_id=None, status=JobStatus.PENDING, submitted_at=None, created_at=created)
        for _ in range(count)
    ]


def test_a_waiting_job_is_enqueued_again_only_after_its_resend_lease():
    """Each tick re-sends only jobs not re-sent recently, so a long queue is not flooded with duplicates."""
    jobs = pending_jobs(50, age=timedelta(seconds=45))
    now = timezone.now()
    assert sorted(jobs_send_lost(now)) == sorted(job.pk for job in jobs)
    ticks = [jobs_send_lost(now + timedelta(seconds=s)) for s in range(1, 40)]
    assert sum(len(ids) for ids in ticks) == 0, "re-sent again within the lease"
    assert sorted(jobs_send_lost(now + timedelta(minutes=3))) == sorted(job.pk for job in jobs)


def test_the_resend_lease_grows_with_the_age_of_the_job():
    """A job that has waited ten minutes is re-sent at most every ten minutes: duplicates grow with log(wait)."""
    pending_jobs(3, age=timedelta(minutes=10))
    now = timezone.now()
    assert len(jobs_send_lost(now)) == 3
    assert jobs_send_lost(now + timedelta(minutes=5)) == []
    assert len(jobs_send_lost(now + timedelta(minutes=11))) == 3


def test_beat_ticks_outrank_sends_on_the_broker():
    """On Redis, priority 0 is served first: the ticks keep it, sends go out below it."""
    assert send_job.priority is not None and send_job.priority > 0
    for task in (poll_tick, health_tick):
        assert (task.priority or 0) == 0
    for entry in celery_app.conf.beat_schedule.values():
        assert entry.get("options", {}).get("priority", 0) == 0
