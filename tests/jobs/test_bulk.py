"""Bulk actions: the dry run, the confirmation, the work against the simulator, the stop, a dead worker's claims."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import selectors, services
from jobs.models import AuditEntry, BulkAction, BulkItem, Job, StatusTransition
from tests.factories import make_endpoint, make_job


@pytest.fixture(autouse=True)
def bulk_in_this_thread(settings):
    """Acting threads would not see a test's uncommitted rows; tests on committed data set their own."""
    settings.BULK_CONCURRENCY = 0


def cancel_filter(endpoint):
    return selectors.JobFilters(endpoint_id=endpoint.pk)


def test_the_dry_run_counts_jobs_by_endpoint_and_by_what_happens_to_them(db):
    """Queued and running jobs will be cancelled; finished and unsent ones are counted as skipped, with why."""
    a, b = make_endpoint(name="alpha"), make_endpoint(name="beta")
    for status in ("IN_QUEUE", "IN_QUEUE", "IN_PROGRESS"):
        make_job(a, status=status)
    make_job(b, status="COMPLETED")
    make_job(b, status="PENDING", runpod_id=None)
    preview = services.bulk_preview(kind="cancel", filters=selectors.JobFilters())
    assert (preview.total, preview.acted, preview.skipped) == (5, 3, 2)
    assert preview.endpoints == [("alpha", 3, 3), ("beta", 2, 0)]
    outcomes = {reason: (act, statuses, n) for act, reason, statuses, n in preview.outcomes}
    assert outcomes["cancelled at RunPod (/cancel)"] == (True, ["IN_PROGRESS", "IN_QUEUE"], 3)
    assert outcomes["already finished (COMPLETED)"] == (False, ["COMPLETED"], 1)
    assert outcomes["not sent to RunPod yet"] == (False, ["PENDING"], 1)


@pytest.mark.parametrize(
    ("kind", "row", "act"),
    [
        ("retry", {"status": "FAILED", "sent": True}, True),
        ("retry", {"status": "FAILED", "sent": True, "expired": True}, False),
        ("retry", {"status": "COMPLETED", "sent": True}, False),
        ("run_again", {"status": "COMPLETED", "sent": True}, True),
        ("run_again", {"status": "COMPLETED", "sent": True, "has_input": False}, False),
        ("stop_tracking", {"status": "IN_QUEUE", "sent": True, "polled": True}, True),
        ("stop_tracking", {"status": "COMPLETED", "sent": True, "polled": False}, False),
        ("stop_tracking", {"status": "PENDING", "sent": False, "polled": False}, False),
    ],
)
def test_each_kind_acts_only_on_jobs_it_can_act_on(kind, row, act):
    """Retry wants a failed job RunPod still has, run again an input, stop tracking a job still polled."""
    assert services.bulk_decide(kind, **row).act is act


def test_a_text_search_matches_every_job_not_only_a_page(db):
    """The search box selects jobs by text in their input, output or error across all jobs the filters match."""
    endpoint = make_endpoint()
    for n in range(60):
        make_job(endpoint, input={"prompt": f"cat {n}" if n % 2 else f"dog {n}"})
    make_job(endpoint, status="FAILED", input={"prompt": "bird"}, error_raw="the cat unplugged the server")
    make_job(endpoint, status="COMPLETED", input={"prompt": "bird"}, output={"seen": "a Cat"})
    preview = services.bulk_preview(kind="run_again", filters=selectors.JobFilters(q="cat"))
    assert preview.total == 32


def test_more_jobs_than_the_threshold_need_their_number_typed(db, settings, operator):
    """Above BULK_CONFIRM_THRESHOLD nothing starts until the count is typed; then the batch and audit exist."""
    settings.BULK_CONFIRM_THRESHOLD = 3
    endpoint = make_endpoint()
    for _ in range(4):
        make_job(endpoint)
    with pytest.raises(services.ConfirmError, match="Type 4"):
        services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), confirm="3", user=operator)
    assert not BulkAction.objects.exists()
    bulk = services.bulk_start(
        kind="cancel", filters=cancel_filter(endpoint), filter_query="endpoint=1", confirm="4", user=operator
    )
    assert bulk.total == 4 and BulkItem.objects.filter(bulk=bulk, state="pending").count() == 4
    entry = AuditEntry.objects.get(action="bulk_cancel")
    assert entry.username == "operator" and entry.detail["bulk"] == bulk.pk and entry.detail["total"] == 4


def test_an_empty_or_oversized_match_is_refused(db, settings):
    """No matching job, or more than BULK_MAX_JOBS, is refused with a reason and stores nothing."""
    endpoint = make_endpoint()
    with pytest.raises(services.InputError, match="No job matches"):
        services.bulk_start(kind="cancel", filters=cancel_filter(endpoint))
    settings.BULK_MAX_JOBS = 2
    for _ in range(3):
        make_job(endpoint)
    with pytest.raises(services.InputError, match="More than 2"):
        services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), confirm="3")
    assert not BulkAction.objects.exists()


def test_bulk_cancel_cancels_at_runpod_skips_finished_jobs_and_audits_each(
    transactional_db, sim_endpoint, operator, settings
):
    """Long jobs at the simulator, cancelled by 4 threads, end CANCELLED once with one audit entry each; a finished
    one is skipped."""
    settings.BULK_CONCURRENCY = 4
    jobs = [services.job_submit(endpoint=sim_endpoint, input={"simulate": {"seconds": 60}}) for _ in range(6)]
    for job in jobs:
        services.job_send(job.pk)
    done = make_job(sim_endpoint, status="COMPLETED", runpod_id="finished-before")
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(sim_endpoint), user=operator)
    assert services.bulk_run(bulk.pk) is False
    bulk.refresh_from_db()
    assert bulk.state == "done" and bulk.finished_at is not None and bulk.lease_token == ""
    for job in jobs:
        job.refresh_from_db()
        assert job.status == "CANCELLED"
        assert StatusTransition.objects.filter(job=job, to_status="CANCELLED").count() == 1
        assert AuditEntry.objects.filter(job=job, action="cancel", outcome="ok", username="operator").count() == 1
    skipped = BulkItem.objects.get(bulk=bulk, job=done)
    assert skipped.state == "skipped" and skipped.reason == "already finished (COMPLETED)"
    progress = selectors.bulk.bulk_progress(bulk.pk)
    assert progress.counts == {"done": 6, "skipped": 1} and progress.left == 0


def test_a_refusal_from_runpod_fails_the_item_with_its_reason(transactional_db, sim_endpoint, operator):
    """A job RunPod does not know fails with RunPod's reason; the batch goes on and ends done."""
    make_job(sim_endpoint, status="IN_QUEUE", runpod_id="never-sent-there")
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(sim_endpoint), user=operator)
    services.bulk_run(bulk.pk)
    item = BulkItem.objects.get(bulk=bulk)
    assert item.state == "failed" and "404" in item.reason
    assert BulkAction.objects.get(pk=bulk.pk).state == "done"


def test_a_stop_ends_the_batch_and_leaves_the_rest_alone(db, operator):
    """A stop asked while no task holds the batch ends it at once; a later task acts on nothing."""
    endpoint = make_endpoint()
    jobs = [make_job(endpoint) for _ in range(3)]
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    assert services.bulk_stop(bulk=bulk, user=operator) is True
    assert services.bulk_stop(bulk=bulk, user=operator) is False
    assert services.bulk_run(bulk.pk) is False
    assert BulkAction.objects.get(pk=bulk.pk).state == "stopped"
    assert all(Job.objects.get(pk=job.pk).status == "IN_QUEUE" for job in jobs)
    assert BulkItem.objects.filter(bulk=bulk, state="pending").count() == 3


def test_a_task_that_runs_out_of_time_hands_the_batch_on(db, operator):
    """With no time left a task acts on nothing, gives the lease back and says more is left."""
    endpoint = make_endpoint()
    make_job(endpoint, status="COMPLETED")
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    assert services.bulk_run(bulk.pk, budget_seconds=-1) is True
    bulk.refresh_from_db()
    assert bulk.state == "running" and bulk.lease_until is None
    assert services.bulk_run(bulk.pk) is False


def test_a_batch_held_by_a_live_task_is_left_to_it(db, operator):
    """A second task finds the lease taken and does nothing."""
    endpoint = make_endpoint()
    make_job(endpoint, status="COMPLETED")
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    BulkAction.objects.filter(pk=bulk.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    assert services.bulk_run(bulk.pk) is False
    assert BulkItem.objects.get(bulk=bulk).state == "pending"


def test_claims_left_by_a_dead_worker_are_settled_without_acting_twice(db, operator):
    """A cancel already recorded is marked done, one not recorded goes again, a retry in doubt is failed."""
    endpoint = make_endpoint()
    recorded, unrecorded = make_job(endpoint, status="CANCELLED"), make_job(endpoint, status="COMPLETED")
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    claimed_at = timezone.now() - timedelta(seconds=5)
    BulkItem.objects.filter(bulk=bulk).update(state="claimed", claimed_at=claimed_at)
    StatusTransition.objects.create(job=recorded, from_status="IN_QUEUE", to_status="CANCELLED", source="cancel")
    services.bulk_run(bulk.pk)
    assert BulkItem.objects.get(bulk=bulk, job=recorded).state == "done"
    assert BulkItem.objects.get(bulk=bulk, job=unrecorded).state == "skipped"  # went again, and is finished now

    failed = make_job(make_endpoint(), status="FAILED")
    retry = services.bulk_start(kind="retry", filters=cancel_filter(failed.endpoint), user=operator)
    BulkItem.objects.filter(bulk=retry).update(state="claimed", claimed_at=claimed_at)
    services.bulk_run(retry.pk)
    item = BulkItem.objects.get(bulk=retry)
    assert item.state == "failed" and "check whether RunPod retried it" in item.reason


def test_the_pacer_counts_the_claims_of_the_last_window_across_tasks(db, operator, settings):
    """Claims a previous task made within 10 s count against the endpoint's budget of the next one."""
    settings.RATE_LIMIT_SHARE = 0.03  # 3 cancels per 10 s
    endpoint = make_endpoint()
    for _ in range(4):
        make_job(endpoint)
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    BulkItem.objects.filter(pk__in=list(BulkItem.objects.filter(bulk=bulk).values_list("pk", flat=True)[:3])).update(
        state="done", claimed_at=timezone.now()
    )
    pacer = services.bulk.Pacer(bulk)
    assert pacer.limit == 3 and 9 < pacer.wait_seconds(endpoint.pk) <= 10
    assert pacer.wait_seconds(make_endpoint().pk) == 0


def test_stop_tracking_ends_polling_keeps_history_and_audits(db, operator):
    """A polled job stops being due, keeps its status and is not claimable by a poller; a second stop is refused."""
    job = make_job(status="IN_QUEUE", next_poll_at=timezone.now())
    services.job_stop_tracking(job=job, user=operator)
    job.refresh_from_db()
    assert job.next_poll_at is None and job.tracking_stopped_at is not None and job.status == "IN_QUEUE"
    assert AuditEntry.objects.get(job=job).action == "stop_tracking"
    with pytest.raises(services.InputError):
        services.job_stop_tracking(job=job, user=operator)


def test_stop_tracking_leaves_a_job_a_poller_holds(db, operator):
    """A job leased by a poller this moment is not stopped (the poller would schedule it again)."""
    job = make_job(next_poll_at=timezone.now(), lease_until=timezone.now() + timedelta(seconds=10), lease_token="p")
    with pytest.raises(services.InputError, match="being polled"):
        services.job_stop_tracking(job=job, user=operator)
    assert Job.objects.get(pk=job.pk).tracking_stopped_at is None


def test_run_again_in_bulk_records_each_new_job_on_its_item(db, operator):
    """Each matched job with an input gets one new PENDING job, linked from its item."""
    endpoint = make_endpoint()
    originals = [make_job(endpoint, status="COMPLETED", input={"n": n}) for n in range(3)]
    bulk = services.bulk_start(kind="run_again", filters=cancel_filter(endpoint), user=operator)
    services.bulk_run(bulk.pk)
    for job in originals:
        item = BulkItem.objects.get(bulk=bulk, job=job)
        assert item.state == "done" and item.new_job.input == job.input and item.new_job.status == "PENDING"
    assert Job.objects.filter(endpoint=endpoint).count() == 6


def test_the_poll_tick_kicks_a_batch_no_task_holds_once(db, operator):
    """An orphaned running batch is returned once, then not again until KICK_SECONDS pass."""
    endpoint = make_endpoint()
    make_job(endpoint)
    bulk = services.bulk_start(kind="cancel", filters=cancel_filter(endpoint), user=operator)
    assert services.bulk_actions_orphaned() == []  # just enqueued by its start
    later = timezone.now() + timedelta(seconds=services.bulk.KICK_SECONDS + 1)
    assert services.bulk_actions_orphaned(now=later) == [bulk.pk]
    assert services.bulk_actions_orphaned(now=later) == []
