"""The poller's claiming of due jobs and its handling of each kind of answer, without the network."""

from datetime import timedelta

from django.utils import timezone

from jobs import runpod
from jobs.models import Job, StatusTransition, StreamChunk
from jobs.services import endpoints, polling
from tests.factories import make_endpoint, make_job


def test_claiming_takes_runsync_jobs_first_and_never_twice(db):
    """Due runsync jobs come first; a job leased by one claim is not in another."""
    endpoint = make_endpoint()
    now = timezone.now()
    old_run = make_job(endpoint, next_poll_at=now - timedelta(seconds=30))
    sync = make_job(endpoint, mode=Job.Mode.RUNSYNC, next_poll_at=now - timedelta(seconds=1))
    make_job(endpoint, next_poll_at=now + timedelta(seconds=30))  # not due
    first = polling.jobs_claim_due(endpoint, limit=1, lease_seconds=20, now=now)
    second = polling.jobs_claim_due(endpoint, limit=10, lease_seconds=20, now=now)
    assert [j.pk for j in first] == [sync.pk]
    assert [j.pk for j in second] == [old_run.pk]
    assert polling.jobs_claim_due(endpoint, limit=10, lease_seconds=20, now=now) == []


def test_a_dead_pollers_jobs_come_back_when_their_lease_runs_out(db):
    """Jobs leased by a worker that died are claimable again after the lease."""
    endpoint = make_endpoint()
    now = timezone.now()
    make_job(endpoint, next_poll_at=now)
    assert polling.jobs_claim_due(endpoint, limit=5, lease_seconds=20, now=now)
    assert not polling.jobs_claim_due(endpoint, limit=5, lease_seconds=20, now=now + timedelta(seconds=10))
    assert polling.jobs_claim_due(endpoint, limit=5, lease_seconds=20, now=now + timedelta(seconds=21))


def test_a_404_for_a_job_we_saw_marks_it_expired(db):
    """RunPod forgetting a job we had seen is expiry, recorded in the timeline."""
    job = make_job(status="IN_PROGRESS", seen_at=timezone.now(), next_poll_at=timezone.now())
    polling.batch_store([job], [runpod.NotFoundError("gone", status_code=404)])
    job.refresh_from_db()
    assert job.expired and not job.not_found and job.next_poll_at is None
    assert StatusTransition.objects.filter(job=job, to_status="EXPIRED").count() == 1


def test_a_404_for_an_id_never_seen_marks_it_unknown(db):
    """A tracked id RunPod never answered for is 'not found', not 'expired'."""
    job = make_job(status="IN_QUEUE", tracked=True, seen_at=None, next_poll_at=timezone.now())
    polling.batch_store([job], [runpod.NotFoundError("gone", status_code=404)])
    job.refresh_from_db()
    assert job.not_found and not job.expired


def test_a_transient_error_reschedules_the_job_soon(db):
    """5xx or a timeout pushes the next poll back a little, never beyond the runsync retention."""
    now = timezone.now()
    job = make_job(status="IN_PROGRESS", next_poll_at=now, poll_failures=10)
    polling.batch_store([job], [runpod.TransientError("boom", status_code=503)], now=now)
    job.refresh_from_db()
    assert job.poll_failures == 11 and job.status == "IN_PROGRESS"
    assert now < job.next_poll_at <= now + timedelta(seconds=polling.ERROR_BACKOFF_MAX)


def test_a_refused_key_flags_the_endpoint_and_stops_its_loop(db):
    """401 is the endpoint's problem: flagged for the pages, the job left untouched."""
    job = make_job(status="IN_QUEUE", next_poll_at=timezone.now())
    outcome = polling.batch_store([job], [runpod.AuthError("no", status_code=401)])
    endpoints.endpoint_flag(job.endpoint, outcome.stop, retry_after=outcome.retry_after)
    job.endpoint.refresh_from_db()
    job.refresh_from_db()
    assert outcome.stop == "auth" and job.endpoint.key_refused and job.poll_failures == 0
    assert job.endpoint not in endpoints.endpoints_pollable()


def test_a_429_backs_the_endpoint_off_for_its_retry_after(db):
    """A 429 with Retry-After holds the endpoint's polling back that long."""
    job = make_job(status="IN_QUEUE", next_poll_at=timezone.now())
    # Bounded by the clock on both sides, not by "now" after the fact: a loaded CI machine took 2.4 s here.
    before = timezone.now()
    outcome = polling.batch_store([job], [runpod.RateLimitedError("slow down", status_code=429, retry_after=7)])
    endpoints.endpoint_flag(job.endpoint, outcome.stop, retry_after=outcome.retry_after)
    after = timezone.now()
    job.endpoint.refresh_from_db()
    assert before + timedelta(seconds=7) <= job.endpoint.backoff_until <= after + timedelta(seconds=7)
    assert job.endpoint not in endpoints.endpoints_pollable()


def test_429s_without_retry_after_back_off_doubling_up_to_one_rate_window(db):
    """2, 4, 8, then 10 s: RunPod's limits are per 10 s, so waiting longer would only risk runsync results."""
    job = make_job(status="IN_QUEUE", next_poll_at=timezone.now())
    waits = []
    for _ in range(6):
        outcome = polling.batch_store([job], [runpod.RateLimitedError("slow down", status_code=429)])
        before = timezone.now()
        endpoints.endpoint_flag(job.endpoint, outcome.stop, retry_after=outcome.retry_after)
        job.endpoint.refresh_from_db()
        waits.append(round((job.endpoint.backoff_until - before).total_seconds()))
    assert waits == [2, 4, 8, 10, 10, 10]
    assert "backing off 10 s" in job.endpoint.last_error


def test_every_429_is_counted_and_the_count_survives_recovery(db):
    """The running total of 429s (a /metrics counter) grows with each one and is not reset when polling recovers."""
    job = make_job(status="IN_QUEUE", next_poll_at=timezone.now())
    for _ in range(3):
        outcome = polling.batch_store([job], [runpod.RateLimitedError("slow down", status_code=429)])
        endpoints.endpoint_flag(job.endpoint, outcome.stop, retry_after=outcome.retry_after)
    endpoints.endpoint_mark_ok(job.endpoint)
    job.endpoint.refresh_from_db()
    assert job.endpoint.rate_limited_total == 3 and job.endpoint.backoff_count == 0


def test_stream_chunks_are_numbered_in_order_across_batches(db):
    """Drained chunks get consecutive sequence numbers, batch after batch."""
    job = make_job(status="IN_PROGRESS", streaming=True, next_poll_at=timezone.now())
    polling.batch_store([job], [runpod.StreamBatch(status="IN_PROGRESS", chunks=("a", "b"), raw={})])
    job.refresh_from_db()
    polling.batch_store([job], [runpod.StreamBatch(status="COMPLETED", chunks=("c",), raw={})])
    job.refresh_from_db()
    assert list(StreamChunk.objects.filter(job=job).values_list("seq", "output")) == [(0, "a"), (1, "b"), (2, "c")]
    assert job.status == "COMPLETED" and not job.archived and job.next_poll_at is not None


def test_a_stream_answer_with_nothing_new_changes_nothing_but_the_schedule(db):
    """An empty drain of a running job writes no chunk and no transition."""
    job = make_job(status="IN_PROGRESS", streaming=True, next_poll_at=timezone.now())
    outcome = polling.batch_store([job], [runpod.StreamBatch(status="IN_PROGRESS", chunks=(), raw={})])
    assert outcome.changed == 0 and not StreamChunk.objects.exists()
    assert not StatusTransition.objects.filter(job=job).exists()
