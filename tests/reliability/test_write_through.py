"""What RunPod hands over only once (the id of a job it accepted, stream chunks it has drained) is written through
a brief database outage instead of being dropped with the failed task."""

from unittest import mock

import pytest
from django.db import OperationalError

from jobs import services
from jobs.models import Job, StreamChunk
from jobs.services import polling, sending
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def flaky(function, failures):
    """Wrap a write so its first `failures` calls fail as if the database had gone away."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return function(*args, **kwargs)

    return wrapper


@pytest.fixture(autouse=True)
def quick_patience(monkeypatch):
    monkeypatch.setattr("jobs.services.storable.OUTAGE_RETRY_SECONDS", 0.05)


def test_the_id_of_an_accepted_job_is_recorded_through_an_outage(sim_endpoint):
    """/run succeeded, then recording its id failed twice: the id is still recorded, once."""
    job = services.job_submit(endpoint=sim_endpoint, input={"n": 1})
    with mock.patch.object(sending, "job_transition", flaky(sending.job_transition, 2)):
        services.job_send(job.pk)
    job.refresh_from_db()
    assert job.runpod_id and job.status in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert job.transitions.filter(from_status="PENDING").count() == 1


def test_an_outage_longer_than_the_patience_still_fails_the_task(sim_endpoint, monkeypatch):
    """Past its patience the write gives up loudly; the stuck-send sweep then says what happened."""
    monkeypatch.setattr("jobs.services.storable.OUTAGE_PATIENCE_SECONDS", 0.2)
    job = services.job_submit(endpoint=sim_endpoint, input={"n": 2})
    with (
        mock.patch.object(sending, "job_transition", flaky(sending.job_transition, 10_000)),
        pytest.raises(OperationalError),
    ):
        services.job_send(job.pk)
    assert Job.objects.get(pk=job.pk).runpod_id is None


def test_drained_stream_chunks_are_stored_through_an_outage():
    """Chunks read from /stream survive two failed writes and are stored once, in order."""
    job = make_job(status="IN_PROGRESS", streaming=True)
    real_bulk_create = StreamChunk.objects.bulk_create
    with mock.patch.object(StreamChunk.objects, "bulk_create", flaky(real_bulk_create, 2)):
        polling.stream_store(job, ["a", "b", "c"], now=job.created_at)
    assert list(StreamChunk.objects.filter(job=job).values_list("seq", "output")) == [(0, "a"), (1, "b"), (2, "c")]
