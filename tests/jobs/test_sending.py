"""Sending PENDING jobs: exactly once, and never blindly again after RunPod may have taken it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import AuditEntry, Job
from jobs.services.sending import SendLater
from tests.factories import make_endpoint, make_job


def pending(endpoint, **fields):
    return make_job(endpoint, runpod_id=None, status="PENDING", submitted_at=None, **fields)


def test_a_job_is_sent_once_even_if_asked_twice(transactional_db, sim, sim_endpoint):
    """A second send of the same job does nothing: the first claimed it."""
    job = pending(sim_endpoint, input={"n": 1})
    services.job_send(job.pk)
    assert services.job_send(job.pk) is None
    job.refresh_from_db()
    assert job.runpod_id and job.status == "IN_QUEUE"
    assert sim.stats()["requests"][sim_endpoint.runpod_id]["run"] == 1


def test_a_5xx_on_run_is_not_resent_blindly(transactional_db, sim, sim_endpoint):
    """RunPod may have queued a /run that answered 5xx: the job is marked SUBMIT_FAILED with why, not resent."""
    job = pending(sim_endpoint, input={"n": 1})
    sim.configure(error_rate=1.0)
    try:
        services.job_send(job.pk)
    finally:
        sim.configure(error_rate=0)
    job.refresh_from_db()
    assert job.status == "SUBMIT_FAILED" and "may have queued it" in job.submit_error
    assert AuditEntry.objects.filter(job=job, action="send", outcome="error").exists()


def test_a_refused_connection_sends_again_later(transactional_db):
    """Nothing listening: the request never left, so the job goes back to PENDING for another try."""
    endpoint = make_endpoint(base_url="http://127.0.0.1:9/v2")
    job = pending(endpoint, input={})
    with pytest.raises(SendLater):
        services.job_send(job.pk)
    job.refresh_from_db()
    assert job.status == "PENDING" and job.submitted_at is None and job.submit_error


def test_lost_sends_are_found_and_stuck_ones_are_marked(db, endpoint):
    """PENDING jobs nobody sent come back for sending; ones claimed long ago by a dead worker are flagged."""
    now = timezone.now()
    lost = pending(endpoint, created_at=now - timedelta(minutes=1))
    fresh = pending(endpoint, created_at=now)
    stuck = make_job(endpoint, runpod_id=None, status="PENDING", submitted_at=now - timedelta(minutes=10))
    assert services.jobs_send_lost(now) == [lost.pk]
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == "SUBMIT_FAILED" and "stopped while sending" in stuck.submit_error
    assert fresh.status == "PENDING"
    assert Job.objects.filter(status="PENDING").count() == 2
