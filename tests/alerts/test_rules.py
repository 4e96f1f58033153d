"""The rules: a stuck queue names its cause, a draining one raises nothing; failures, runaways, losses."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import RuleKind, RuleSetting
from alerts.services import rules_evaluate
from alerts.services.feed import transitions_read
from jobs.models import HealthSnapshot, StatusTransition
from tests.alerts.conftest import finished, queued, snapshot
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


def findings_of(kind):
    return [f for f in rules_evaluate() if f.kind == kind]


@pytest.mark.parametrize(
    ("workers", "cause", "words"),
    [
        ({}, "no_workers", "No workers at all"),
        ({"unhealthy": 3}, "unhealthy", "Every worker is unhealthy"),
        ({"throttled": 2}, "throttled", "throttled"),
        ({"initializing": 2}, "initializing", "stuck initializing"),
        ({"unhealthy": 1, "throttled": 4}, "throttled", "no GPU"),
        ({"running": 2}, "workers_busy", "queue has not moved"),
    ],
)
def test_stuck_queue_names_the_cause_from_health(fresh_poll, workers, cause, words):
    """A queue waiting past the threshold, /health unchanged for longer, is one finding naming what /health shows."""
    endpoint = make_endpoint()
    snapshot(endpoint, ago=190, in_queue=3, **workers)
    snapshot(endpoint, in_queue=3, **workers)
    queued(endpoint, waited=200, count=3)
    [finding] = findings_of(RuleKind.STUCK_QUEUE)
    assert finding.evidence["cause"] == cause
    assert words in finding.summary and "3 job(s) queued" in finding.summary
    assert finding.key == f"stuck_queue:{endpoint.pk}"


def test_refused_key_and_unknown_endpoint_are_named(fresh_poll):
    """Our own records come first: a refused key or an unknown endpoint id is the cause, whatever /health said."""
    refused = make_endpoint(auth_failed_at=timezone.now())
    unknown = make_endpoint(not_found_at=timezone.now())
    for endpoint in (refused, unknown):
        queued(endpoint, waited=300)
    causes = {f.endpoint_id: f.evidence["cause"] for f in findings_of(RuleKind.STUCK_QUEUE)}
    assert causes == {refused.pk: "key_refused", unknown.pk: "unknown_endpoint"}


def test_a_draining_queue_raises_nothing(fresh_poll):
    """Jobs have waited long, but others finished within the threshold: busy, not stuck."""
    endpoint = make_endpoint()
    snapshot(endpoint, running=3, in_queue=400)
    queued(endpoint, waited=500, count=5)
    finished(endpoint, ago=20)
    assert findings_of(RuleKind.STUCK_QUEUE) == []


def test_a_short_wait_raises_nothing_and_thresholds_are_per_endpoint(fresh_poll):
    """100 s is under the 120 s default, but over an endpoint's own 60 s threshold."""
    calm, strict = make_endpoint(), make_endpoint()
    for endpoint in (calm, strict):
        snapshot(endpoint, unhealthy=1, in_queue=1)
        queued(endpoint, waited=100)
    RuleSetting.objects.create(endpoint=strict, kind=RuleKind.STUCK_QUEUE, threshold=60)
    assert [f.endpoint_id for f in findings_of(RuleKind.STUCK_QUEUE)] == [strict.pk]


def test_polling_behind_is_the_cause_when_no_round_finished(db):
    """No poll round for minutes while jobs are overdue: the polling-stalled alert, and stuck queues blame it."""
    endpoint = make_endpoint()
    snapshot(endpoint, unhealthy=2)
    job = queued(endpoint, waited=300)[0]
    type(job).objects.filter(pk=job.pk).update(next_poll_at=timezone.now() - timedelta(seconds=120))
    findings = {f.kind: f for f in rules_evaluate()}
    assert "No poll round has finished" in findings[RuleKind.POLLING_STALLED].summary
    assert findings[RuleKind.STUCK_QUEUE].evidence["cause"] == "polling_behind"


def test_failure_rate_names_the_most_common_error_group(fresh_poll):
    """6 of 10 failed in the window: one finding naming the commonest masked error."""
    endpoint = make_endpoint()
    for i in range(4):
        finished(
            endpoint,
            status="FAILED",
            error_raw=f'{{"error_type": "OOM", "error_message": "CUDA out of memory at {i}"}}',
        )
    finished(endpoint, status="FAILED", error_raw="disk /tmp/x/y full")
    finished(endpoint, status="TIMED_OUT")
    for _ in range(4):
        finished(endpoint)
    transitions_read()
    [finding] = findings_of(RuleKind.FAILURE_RATE)
    assert "6 of 10 jobs failed" in finding.summary
    assert "Most common error (4x): OOM: CUDA out of memory at <n>" in finding.summary
    assert finding.evidence["top_group"]["count"] == 4


def test_failure_rate_needs_enough_jobs(fresh_poll):
    """Two failures out of three finished jobs are under the default minimum of five."""
    endpoint = make_endpoint()
    finished(endpoint, status="FAILED", error_raw="x")
    finished(endpoint, status="FAILED", error_raw="x")
    finished(endpoint)
    assert findings_of(RuleKind.FAILURE_RATE) == []


def test_runaway_past_timeout_and_after_an_ignored_cancel(fresh_poll):
    """A job past executionTimeout plus grace, and one still running two poll cycles after our cancel."""
    endpoint = make_endpoint()
    now = timezone.now()
    late = make_job(
        endpoint, status="IN_PROGRESS", started_at=now - timedelta(seconds=80), policy={"executionTimeout": 10_000}
    )
    make_job(
        endpoint, status="IN_PROGRESS", started_at=now - timedelta(seconds=30), policy={"executionTimeout": 10_000}
    )
    ignored = make_job(endpoint, status="IN_PROGRESS", started_at=now - timedelta(seconds=20), last_polled_at=now)
    StatusTransition.objects.create(
        job=ignored, from_status="IN_PROGRESS", to_status="CANCELLED", at=now - timedelta(seconds=6), source="cancel"
    )
    [finding] = findings_of(RuleKind.RUNAWAY)
    assert finding.evidence["past_timeout"] == [late.pk]
    assert finding.evidence["ignored_cancel"] == [ignored.pk]
    assert "still running after we cancelled them" in finding.summary


def test_completed_without_output_over_the_limit(fresh_poll):
    """Three COMPLETED jobs without output is more than the default two."""
    endpoint = make_endpoint()
    for _ in range(2):
        finished(endpoint, completed_without_output=True)
    assert findings_of(RuleKind.NO_OUTPUT) == []
    finished(endpoint, completed_without_output=True)
    [finding] = findings_of(RuleKind.NO_OUTPUT)
    assert "3 job(s) COMPLETED without any output" in finding.summary


def test_an_expired_job_is_always_an_alert_and_a_late_archive_is_at_risk(fresh_poll):
    """A job RunPod dropped before we archived it is data lost; one unarchived past half its retention is at risk."""
    endpoint = make_endpoint()
    now = timezone.now()
    lost = make_job(endpoint, status="IN_PROGRESS", expired=True, next_poll_at=None, seen_at=now)
    StatusTransition.objects.create(job=lost, from_status="IN_PROGRESS", to_status="EXPIRED", at=now, source="poll")
    risky = make_job(
        endpoint, status="COMPLETED", finished_at=now - timedelta(minutes=20), archived=False, next_poll_at=now
    )
    transitions_read()
    [finding] = findings_of(RuleKind.RESULTS_AT_RISK)
    assert finding.evidence["lost"] == [lost.pk] and finding.evidence["at_risk"] == [risky.pk]
    assert "expired at RunPod before we archived them" in finding.summary


def test_a_disabled_rule_raises_nothing(fresh_poll):
    """An admin can switch a rule off for every endpoint."""
    endpoint = make_endpoint()
    snapshot(endpoint)
    queued(endpoint, waited=500)
    RuleSetting.objects.create(kind=RuleKind.STUCK_QUEUE, enabled=False)
    assert findings_of(RuleKind.STUCK_QUEUE) == []


def test_signatures_mask_numbers_ids_paths_and_hex():
    """Messages that differ only in numbers, ids, paths or hex share a signature; the class repr is shortened."""
    from alerts.services.signatures import error_signature

    a = error_signature(
        "FAILED", '{"error_type": "<class \'RuntimeError\'>", "error_message": "CUDA OOM at 0x7f3a on 2"}'
    )
    b = error_signature(
        "FAILED", '{"error_type": "<class \'RuntimeError\'>", "error_message": "CUDA OOM at 0x11 on 7"}'
    )
    assert a == b and a[1:] == ("RuntimeError", "CUDA OOM at <hex> on <n>")
    c = error_signature("FAILED", "cannot open /data/run-1/in.png for 3f2b8c1e-1111-4222-8333-123456789abc")
    assert c[2] == "cannot open <path> for <id>"
    assert error_signature("TIMED_OUT", "")[1:] == ("TIMED_OUT", "execution timeout exceeded")


def test_an_empty_queue_at_runpod_with_our_polls_late_means_our_polling_is_behind(fresh_poll):
    """RunPod's /health says nothing is queued or running while jobs wait here, a minute and a half overdue."""
    endpoint = make_endpoint()
    snapshot(endpoint, idle=2, in_queue=0)
    late = timezone.now() - timedelta(seconds=90)
    for job in queued(endpoint, waited=300, count=4):
        type(job).objects.filter(pk=job.pk).update(next_poll_at=late, last_polled_at=late)
    [finding] = findings_of(RuleKind.STUCK_QUEUE)
    assert finding.evidence["cause"] == "polling_behind" and "RunPod reports an empty queue" in finding.summary
    assert "4 job(s) are overdue for a poll" in finding.summary


def test_an_empty_queue_at_runpod_with_our_polls_on_time_is_not_stuck(fresh_poll):
    """RunPod has nothing queued and our polls are on schedule: what waits here is about to be read, not stuck."""
    endpoint = make_endpoint()
    snapshot(endpoint, idle=2, in_queue=0)
    queued(endpoint, waited=300, count=4)
    assert findings_of(RuleKind.STUCK_QUEUE) == []


def test_a_queue_that_stopped_moving_is_stuck_even_after_a_busy_hour(fresh_poll):
    """Jobs finished until five minutes ago, /health's counters have stood still since: stuck, named from health."""
    endpoint = make_endpoint()
    for ago, completed in ((900, 100), (300, 400), (200, 400), (5, 400)):
        row = snapshot(endpoint, ago=ago, running=2, in_queue=50)
        HealthSnapshot.objects.filter(pk=row.pk).update(jobs_completed=completed)
    finished(endpoint, ago=300)
    queued(endpoint, waited=400, count=50)
    [finding] = findings_of(RuleKind.STUCK_QUEUE)
    assert finding.evidence["cause"] == "workers_busy"


def test_running_workers_need_a_threshold_of_health_before_a_queue_is_called_stuck(fresh_poll):
    """One /health answer with workers running cannot tell a busy queue from a stuck one: nothing yet. Without any
    /health, nothing until the wait passes HEALTH_FRESH; then it is named as unknown."""
    busy, blind, long_blind = make_endpoint(), make_endpoint(), make_endpoint()
    snapshot(busy, running=4, in_queue=400)
    queued(busy, waited=300, count=3)
    queued(blind, waited=100, count=3)
    queued(long_blind, waited=130, count=3)
    RuleSetting.objects.create(kind=RuleKind.STUCK_QUEUE, threshold=60)
    [finding] = findings_of(RuleKind.STUCK_QUEUE)
    assert finding.endpoint_id == long_blind.pk and finding.evidence["cause"] == "no_health"


def test_health_that_runs_late_still_shows_a_draining_queue(fresh_poll):
    """The newest /health is 150 s old (its tick ran late) but the threshold before it shows the queue shrinking
    with workers running: judged over the snapshots we have, not a window they miss."""
    endpoint = make_endpoint()
    snapshot(endpoint, ago=400, running=3, in_queue=300)
    snapshot(endpoint, ago=150, running=3, in_queue=120)
    queued(endpoint, waited=500, count=3)
    assert findings_of(RuleKind.STUCK_QUEUE) == []


def test_stuck_queues_cost_the_same_statements_for_one_endpoint_or_twenty(fresh_poll):
    """Twenty stuck endpoints are read with as many statements as one: no query per endpoint."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements():
        with CaptureQueriesContext(connection) as queries:
            findings = findings_of(RuleKind.STUCK_QUEUE)
        return len(findings), len(queries)

    def stuck_endpoint():
        endpoint = make_endpoint()
        snapshot(endpoint, unhealthy=2, in_queue=3)
        queued(endpoint, waited=300, count=3)

    stuck_endpoint()
    one = statements()
    for _ in range(19):
        stuck_endpoint()
    twenty = statements()
    assert (one[0], twenty[0]) == (1, 20)
    assert twenty[1] == one[1]


def test_a_queue_runpod_is_draining_is_not_stuck_even_when_our_polling_trails(fresh_poll):
    """No job finished in our records yet, but /health's completed counter grew within the threshold."""
    endpoint = make_endpoint()
    old = snapshot(endpoint, ago=200, running=4, in_queue=400)
    HealthSnapshot.objects.filter(pk=old.pk).update(jobs_completed=100)
    new = snapshot(endpoint, ago=5, running=4, in_queue=300)
    HealthSnapshot.objects.filter(pk=new.pk).update(jobs_completed=200)
    queued(endpoint, waited=300, count=3)
    assert findings_of(RuleKind.STUCK_QUEUE) == []
