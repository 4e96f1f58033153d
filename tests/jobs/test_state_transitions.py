"""The one write of a job's status: every edge of the state machine that is not a status object from RunPod."""

from datetime import timedelta

from django.utils import timezone

from jobs.constants import EXPIRED
from jobs.models import Job, StatusTransition
from jobs.services.state import job_apply_stream_status, job_transition, retry_fields
from tests.factories import make_job


def transitions(job):
    return list(StatusTransition.objects.filter(job=job).values_list("from_status", "to_status", "source"))


def test_a_decided_move_writes_its_columns_and_one_transition_with_its_source(db):
    """A cancel moves IN_PROGRESS to CANCELLED with its columns, and records who moved it."""
    job = make_job(status="IN_PROGRESS")
    now = timezone.now()
    assert job_transition(job, "CANCELLED", source="cancel", now=now, next_poll_at=now)
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == job.status == "CANCELLED" and stored.next_poll_at == now
    assert transitions(job) == [("IN_PROGRESS", "CANCELLED", "cancel")]


def test_a_writer_that_read_an_old_status_writes_nothing(db):
    """Of two writers that read the same status, the second finds it moved and loses without a trace."""
    job = make_job(status="IN_QUEUE")
    stale = Job.objects.get(pk=job.pk)
    assert job_transition(job, "IN_PROGRESS", source="poll")
    assert not job_transition(stale, "CANCELLED", source="cancel", submit_error="late")
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == "IN_PROGRESS" and stored.submit_error == "" and stale.status == "IN_QUEUE"
    assert transitions(job) == [("IN_QUEUE", "IN_PROGRESS", "poll")]


def test_a_move_to_the_same_status_writes_its_columns_without_a_transition(db):
    """Recording the id RunPod gave a PENDING job writes it and adds no transition row."""
    job = make_job(status="PENDING", runpod_id=None)
    assert job_transition(job, "PENDING", source="submit", runpod_id="rp-1")
    assert Job.objects.get(pk=job.pk).runpod_id == "rp-1"
    assert transitions(job) == []


def test_a_job_runpod_forgot_is_marked_expired_and_keeps_its_last_status(db):
    """EXPIRED is a transition row and a flag; the status column keeps what RunPod last reported."""
    job = make_job(status="IN_PROGRESS")
    assert job_transition(job, EXPIRED, source="poll", expired=True, next_poll_at=None)
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == "IN_PROGRESS" and stored.expired and stored.next_poll_at is None
    assert transitions(job) == [("IN_PROGRESS", "EXPIRED", "poll")]


def test_a_late_404_leaves_an_archived_job_alone(db):
    """An archived job holds all RunPod had: a 404 after it changes nothing."""
    job = make_job(status="COMPLETED", archived=True)
    assert not job_transition(job, EXPIRED, source="poll", expired=True)
    assert not Job.objects.get(pk=job.pk).expired and transitions(job) == []


def test_a_retry_clears_the_last_attempt_and_is_polled_at_once(db):
    """FAILED to IN_QUEUE empties the output, error and times, and gives the job a fresh day to live."""
    done = timezone.now() - timedelta(minutes=5)
    job = make_job(
        status="FAILED", output={"x": 1}, has_output=True, error_raw="boom", archived=True, archived_at=done,
        finished_at=done, started_at=done,
    )  # fmt: skip
    now = timezone.now()
    assert job_transition(job, "IN_QUEUE", source="retry", now=now, **retry_fields(now))
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.output, stored.has_output, stored.error_raw) == ("IN_QUEUE", None, False, "")
    assert not stored.archived and stored.archived_at is stored.finished_at is stored.started_at is None
    assert stored.next_poll_at == now and stored.expires_at == now + timedelta(hours=24)
    assert transitions(job) == [("FAILED", "IN_QUEUE", "retry")]


def test_a_stream_answer_with_a_new_status_stamps_its_times_and_drains_on(db):
    """IN_QUEUE to IN_PROGRESS through /stream sets seen and started, and polls again at once."""
    job = make_job(status="IN_QUEUE", streaming=True, lease_token="t", lease_until=timezone.now())
    now = timezone.now()
    assert job_apply_stream_status(job, "running", now=now)
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == "IN_PROGRESS" and stored.seen_at == stored.started_at == stored.next_poll_at == now
    assert stored.lease_token == "" and stored.finished_at is None
    assert transitions(job) == [("IN_QUEUE", "IN_PROGRESS", "stream")]


def test_a_final_stream_answer_sets_finished_but_leaves_the_archive_to_one_more_status_read(db):
    """/stream saying COMPLETED ends the job's time, not its polling: its output comes from /status."""
    job = make_job(status="IN_PROGRESS", streaming=True)
    now = timezone.now()
    assert job_apply_stream_status(job, "COMPLETED", now=now)
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == "COMPLETED" and stored.finished_at == stored.next_poll_at == now and not stored.archived
