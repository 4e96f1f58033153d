"""Services end to end against the simulator over real HTTP, without Celery: send, poll, archive."""

from django.utils import timezone

from jobs import runpod, services
from jobs.models import AuditEntry, HealthSnapshot, Job, StatusTransition, StreamChunk
from tests.utils import wait_for


def send_all(jobs):
    for job in jobs:
        services.job_send(job.pk)


def poll_until_done(endpoint, *, timeout=30):
    def done():
        services.poll_round([endpoint.pk], budget_seconds=1)
        return not Job.objects.filter(endpoint=endpoint, archived=False, expired=False).exists()

    wait_for(done, timeout=timeout, interval=0.05, message="every job archived")


def test_jobs_of_every_kind_end_archived_with_their_results(transactional_db, sim_endpoint, operator):
    """Normal, failing, output-less and streaming jobs all end archived with what RunPod returned."""
    submit = services.job_submit
    normal = [submit(endpoint=sim_endpoint, input={"n": i}, user=operator) for i in range(20)]
    failing = submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 0.1, "fail": "out of memory"}})
    empty = submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 0.1, "no_output": True}})
    stream = submit(endpoint=sim_endpoint, input={"simulate": {"stream": 5, "interval": 0.1}}, streaming=True)
    send_all([*normal, failing, empty, stream])
    assert not Job.objects.filter(runpod_id__isnull=True).exists()

    poll_until_done(sim_endpoint)

    for job in normal:
        job.refresh_from_db()
        assert job.status == "COMPLETED" and job.has_output and job.execution_ms is not None
    failing.refresh_from_db()
    assert failing.status == "FAILED" and "out of memory" in failing.error_raw
    empty.refresh_from_db()
    assert empty.status == "COMPLETED" and empty.completed_without_output
    chunks = list(StreamChunk.objects.filter(job=stream).order_by("seq").values_list("seq", flat=True))
    assert chunks == [0, 1, 2, 3, 4]
    assert AuditEntry.objects.filter(action="submit", outcome="ok").count() == 23


def test_every_transition_is_recorded_once(transactional_db, sim_endpoint):
    """A job's timeline has no repeated transition, however many polls it took."""
    job = services.job_submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 0.6}})
    services.job_send(job.pk)
    poll_until_done(sim_endpoint)
    steps = list(StatusTransition.objects.filter(job=job).values_list("from_status", "to_status"))
    assert steps[0] == ("PENDING", "IN_QUEUE")
    assert steps[-1][1] == "COMPLETED"
    assert len(steps) == len(set(steps))


def test_a_runsync_job_is_archived_from_the_answer_itself(transactional_db, sim_endpoint):
    """A /runsync that finishes in time is archived without any poll."""
    job = services.job_submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 0.1}}, mode="runsync")
    services.job_send(job.pk)
    job.refresh_from_db()
    assert job.status == "COMPLETED" and job.archived and job.runpod_id.startswith("sync-")


def test_cancel_retry_and_purge_reach_runpod_and_are_audited(transactional_db, sim_endpoint, operator):
    """Cancel a running job, retry a failed one, purge a queue: each reaches the simulator and leaves a trail."""
    # The failing job goes first: the queue is FIFO and the long jobs keep the workers busy behind it.
    failing = services.job_submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 0.05, "fail": "x"}})
    long_jobs = [services.job_submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 20}}) for _ in range(12)]
    send_all([failing, *long_jobs])
    wait_for(
        lambda: (
            services.poll_round([sim_endpoint.pk], budget_seconds=0.5) is not None
            and Job.objects.get(pk=failing.pk).status == "FAILED"
        ),
        timeout=20,
        message="the failing job to fail",
    )

    running = wait_for(
        lambda: (
            services.poll_round([sim_endpoint.pk], budget_seconds=0.5) is not None
            and Job.objects.filter(endpoint=sim_endpoint, status="IN_PROGRESS").first()
        ),
        timeout=20,
        message="a running job",
    )
    services.job_cancel(job=running, user=operator)
    assert Job.objects.get(pk=running.pk).status == "CANCELLED"

    retried = services.job_retry(job=Job.objects.get(pk=failing.pk), user=operator)
    assert retried.status == "IN_QUEUE" and not retried.archived

    removed = services.endpoint_purge_queue(endpoint=sim_endpoint, user=operator)
    assert removed >= 1
    actions = set(AuditEntry.objects.filter(user=operator, outcome="ok").values_list("action", flat=True))
    assert {"cancel", "retry", "purge"} <= actions


def test_health_snapshots_are_stored_for_each_endpoint(transactional_db, sim_endpoint):
    """A health tick stores one snapshot with the simulator's worker counts."""
    assert services.endpoints_snapshot_health([sim_endpoint.pk]) == 1
    snapshot = HealthSnapshot.objects.get(endpoint=sim_endpoint)
    assert snapshot.workers_total >= 2 and snapshot.taken_at <= timezone.now()


def test_a_wrong_key_flags_the_endpoint_instead_of_failing_jobs(transactional_db, sim, sim_endpoint):
    """With the simulator insisting on another key, polls get 401: the endpoint is flagged, jobs untouched."""
    job = services.job_submit(endpoint=sim_endpoint, input={"n": 1})
    services.job_send(job.pk)
    Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    sim.configure(api_key="the-real-key")
    try:
        services.poll_round([sim_endpoint.pk], budget_seconds=0.5)
    finally:
        sim.configure(api_key=None)
    sim_endpoint.refresh_from_db()
    job.refresh_from_db()
    assert sim_endpoint.key_refused and not job.is_final and not job.expired


def test_the_endpoints_recorded_limit_binds_the_pollers_client(transactional_db, sim_endpoint):
    """RunPod raises a busy endpoint's limit; the limit recorded on the endpoint is what the client holds to."""
    sim_endpoint.status_rate_per_10s, sim_endpoint.status_concurrency = 6000, 900
    sim_endpoint.save()
    limiter = runpod.RateLimiter()
    services.poll_round([sim_endpoint.pk], budget_seconds=0.5, limiter=limiter)
    key = runpod.endpoint_key(sim_endpoint.base_url, sim_endpoint.runpod_id)
    assert limiter.bucket(key, "status").limit == runpod.Limit(6000, 900)
    assert limiter.bucket(key, "stream").limit == runpod.Limit(6000, 900), "/stream shares the /status bucket"
