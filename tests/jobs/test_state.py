"""The job state machine: what each status object does to our record."""

from datetime import timedelta

from django.utils import timezone

from jobs import runpod
from jobs.models import Job, StatusTransition
from jobs.services.state import job_apply_state, normalise_status
from tests.factories import make_job


def state(status, **fields):
    values = {
        "id": "job-1",
        "status": status,
        "delay_ms": None,
        "execution_ms": None,
        "output": None,
        "has_output": False,
        "error": None,
        "worker_id": None,
        "retries": None,
        "raw": {"status": status},
    }
    values.update(fields)
    if "output" in fields and "has_output" not in fields:
        values["has_output"] = True
    return runpod.JobState(**values)


def transitions(job):
    return list(StatusTransition.objects.filter(job=job).values_list("from_status", "to_status"))


def test_a_job_that_starts_running_records_the_start_and_one_transition(db):
    """IN_QUEUE to IN_PROGRESS stamps started_at and adds exactly one transition."""
    job = make_job(status="IN_QUEUE")
    assert job_apply_state(job, state("IN_PROGRESS", worker_id="w-1", delay_ms=1200), source="poll")
    job.refresh_from_db()
    assert job.status == "IN_PROGRESS" and job.started_at and job.worker_id == "w-1" and job.delay_ms == 1200
    assert job.next_poll_at is not None
    assert transitions(job) == [("IN_QUEUE", "IN_PROGRESS")]


def test_a_completed_job_is_archived_with_its_output_and_retention(db):
    """COMPLETED stores the output, stops polling and records when RunPod drops it (30 min for /run)."""
    job = make_job(status="IN_PROGRESS")
    now = timezone.now()
    job_apply_state(job, state("COMPLETED", output={"text": "hi"}, execution_ms=900), source="poll", now=now)
    job.refresh_from_db()
    assert job.archived and job.has_output and job.output == {"text": "hi"}
    assert job.next_poll_at is None and job.finished_at == now
    assert job.expires_at == now + timedelta(minutes=30)
    assert not job.completed_without_output


def test_a_runsync_result_is_known_to_live_only_sixty_seconds(db):
    """A /runsync job's result expires 60 s after completion."""
    job = make_job(status="IN_PROGRESS", mode=Job.Mode.RUNSYNC)
    now = timezone.now()
    job_apply_state(job, state("COMPLETED", output=1), source="poll", now=now)
    job.refresh_from_db()
    assert job.expires_at == now + timedelta(seconds=60)


def test_completed_without_output_is_flagged(db):
    """A COMPLETED answer without an output field is the known trap: flagged, still archived."""
    job = make_job(status="IN_PROGRESS")
    job_apply_state(job, state("COMPLETED"), source="poll")
    job.refresh_from_db()
    assert job.completed_without_output and job.archived and not job.has_output


def test_a_null_output_is_an_output(db):
    """output: null is a real answer, unlike a missing output field."""
    job = make_job(status="IN_PROGRESS")
    job_apply_state(job, state("COMPLETED", output=None, has_output=True), source="poll")
    job.refresh_from_db()
    assert job.has_output and not job.completed_without_output


def test_a_failed_job_keeps_the_raw_error_and_its_parsed_fields(db):
    """FAILED with a JSON error string stores it raw and parsed."""
    job = make_job(status="IN_PROGRESS")
    raw = '{"error_type": "ValueError", "error_message": "bad", "error_traceback": "Traceback..."}'
    job_apply_state(job, state("FAILED", error=raw), source="poll")
    job.refresh_from_db()
    assert job.error_raw == raw and job.error["error_type"] == "ValueError" and job.archived


def test_a_plain_text_error_is_kept_as_text(db):
    """A FAILED error that is not JSON is stored raw with no parsed form."""
    job = make_job(status="IN_PROGRESS")
    job_apply_state(job, state("FAILED", error="worker exploded"), source="poll")
    job.refresh_from_db()
    assert job.error_raw == "worker exploded" and job.error is None


def test_running_is_read_as_in_progress():
    """Some docs say RUNNING; it is stored as IN_PROGRESS."""
    assert normalise_status("RUNNING") == "IN_PROGRESS"
    assert normalise_status("") == "UNKNOWN"


def test_an_unknown_state_is_kept_and_polled_again(db):
    """A state we do not know is stored as sent, is not final, and keeps the job polled."""
    job = make_job(status="IN_QUEUE")
    job_apply_state(job, state("WARMING_UP"), source="poll")
    job.refresh_from_db()
    assert job.status == "WARMING_UP" and not job.is_final and job.next_poll_at and not job.archived


def test_a_progress_update_is_not_taken_for_the_output(db):
    """Output sent while running is a progress update, kept apart from the final output."""
    job = make_job(status="IN_PROGRESS")
    job_apply_state(job, state("IN_PROGRESS", output={"percent": 40}), source="poll")
    job.refresh_from_db()
    assert job.progress == {"percent": 40} and job.output is None and not job.has_output


def test_a_stale_answer_cannot_write_twice(db):
    """Two pollers holding the same read: only the first records the transition."""
    job = make_job(status="IN_PROGRESS")
    stale = Job.objects.get(pk=job.pk)
    assert job_apply_state(job, state("COMPLETED", output=1), source="poll")
    assert not job_apply_state(stale, state("COMPLETED", output=1), source="poll")
    assert transitions(job) == [("IN_PROGRESS", "COMPLETED")]


def test_a_queued_job_is_polled_less_often_the_longer_it_waits(db):
    """Cadence adapts: a long-queued job waits longer between polls than a fresh one, up to the maximum."""
    now = timezone.now()
    fresh = make_job(status="IN_QUEUE", submitted_at=now)
    old = make_job(status="IN_QUEUE", submitted_at=now - timedelta(hours=2))
    job_apply_state(fresh, state("IN_QUEUE"), source="poll", now=now)
    job_apply_state(old, state("IN_QUEUE"), source="poll", now=now)
    fresh.refresh_from_db()
    old.refresh_from_db()
    assert fresh.next_poll_at - now == timedelta(seconds=fresh.endpoint.poll_queued_seconds)
    assert old.next_poll_at - now == timedelta(seconds=old.endpoint.poll_queued_max_seconds)


def test_a_streaming_job_that_ends_gets_one_more_status_read(db):
    """The final /stream answer has no output or timings, so the job is not archived until /status is read."""
    job = make_job(status="IN_PROGRESS", streaming=True)
    now = timezone.now()
    job_apply_state(job, state("COMPLETED", output=[1, 2]), source="stream", now=now)
    job.refresh_from_db()
    assert not job.archived and job.next_poll_at == now
    job_apply_state(job, state("COMPLETED", output=[1, 2], execution_ms=5), source="poll", now=now)
    job.refresh_from_db()
    assert job.archived and job.execution_ms == 5 and job.next_poll_at is None
