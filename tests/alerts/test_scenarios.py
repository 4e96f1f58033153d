"""What a person receives, end to end: a real Celery worker and beat on Redis, the simulator over real HTTP, and a
webhook channel served by the test. Thresholds are compressed (a 5 s stuck queue, a 3 s hold-down) so each
scenario takes seconds; the rules and their order are those of production."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, Channel, RuleKind, RuleSetting, Silence
from jobs import services
from jobs.models import Endpoint, Job
from tests.alerts.receivers import HttpReceiver
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint
from tests.utils import logged_in, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ALERT_ENV = {
    "ALERT_TICK_SECONDS": "2",
    # Production's poll tick: the test workers' 1 s keeps a loaded machine's pool busy with ticks alone.
    "POLL_TICK_SECONDS": "2",
    "ALERT_HOLD_DOWN_SECONDS": "3",
    "ALERT_RETRY_BASE_SECONDS": "0.5",
    "SITE_URL": "http://dashboard.test",
}


@pytest.fixture
def receiver(transactional_db):
    with HttpReceiver() as hook:
        Channel.objects.create(name="ops", kind=Channel.Kind.WEBHOOK, url=f"{hook.url}/hook", secret="k")
        yield hook


@pytest.fixture
def alert_worker(transactional_db, sim):
    """A worker with its beat, alert ticks every second; stuck queues after 5 s, runaways 1 s past their timeout."""
    RuleSetting.objects.create(kind=RuleKind.STUCK_QUEUE, threshold=5)
    RuleSetting.objects.create(kind=RuleKind.RUNAWAY, threshold=1)
    sim.configure(time_scale=1.0, api_key=None, ignore_cancel=False, ignore_timeout=False, latency_ms=0)
    worker = CeleryWorker(env=ALERT_ENV, concurrency=3).start()
    yield worker
    worker.stop()
    sim.configure(time_scale=1.0, api_key=None, ignore_cancel=False, ignore_timeout=False)


def messages(hook, event=None, endpoint=None, rule=None):
    found = []
    for index in range(len(hook.requests)):
        payload = hook.json(index)
        alert = payload["alert"]
        wanted = (event, payload["event"]), (endpoint, alert["endpoint"]), (rule, alert["rule"])
        if all(want in (None, have) for want, have in wanted):
            found.append(payload)
    return found


def waiting(predicate, worker, *, timeout, message):
    """wait_for that, on timeout, says what the alerts, deliveries and the worker's log show."""
    from alerts.models import Delivery

    try:
        return wait_for(predicate, timeout=timeout, message=message)
    except AssertionError as exc:
        alerts = list(Alert.objects.values_list("key", "state", "summary"))
        deliveries = list(Delivery.objects.values_list("alert_id", "event", "state", "last_error"))
        jobs = list(Job.objects.values_list("endpoint__name", "status", "runpod_id"))
        raise AssertionError(
            f"{exc}\nalerts: {alerts}\ndeliveries: {deliveries}\njobs: {jobs}\n{worker.output()[-3000:]}"
        ) from exc


def sim_endpoint_with(sim, **pool):
    """An Endpoint row on a fresh simulator endpoint with this worker pool."""
    name = f"ep-{uuid.uuid4().hex[:8]}"
    sim.add_endpoint(name, **{"cold_start": 0.2, "job_seconds": [0.05, 0.2], **pool})
    # Poll cadence compressed like the 5 s threshold (RunPod's 30 s longest queued interval against 120 s).
    return make_endpoint(
        name=name,
        runpod_id=name,
        base_url=sim.base_url,
        api_key="sim-key",
        poll_queued_seconds=1,
        poll_queued_max_seconds=1.5,
    )


def submit(endpoint, count=1, **simulate):
    return [services.job_submit(endpoint=endpoint, input={"n": i, "simulate": simulate}) for i in range(count)]


def test_each_cause_of_a_stuck_queue_is_named_and_silenced_ones_send_nothing(sim, alert_worker, receiver):
    """Throttled, no workers, stuck initializing, a refused key: one message each naming it; a silenced one none."""
    sim.configure(api_key="sim-key")
    # The refused key first, with no job yet: the health tick records the 401 (as it would long before RunPod's
    # 120 s threshold), then a tracked job waits behind it.
    refused = sim_endpoint_with(sim)
    Endpoint.objects.filter(pk=refused.pk).update(api_key="wrong-key")
    waiting(
        lambda: Endpoint.objects.filter(pk=refused.pk, auth_failed_at__isnull=False).exists(),
        alert_worker,
        timeout=60,
        message="the 401 recorded",
    )
    refused.refresh_from_db()
    services.job_track(endpoint=refused, runpod_id="job-submitted-elsewhere")
    endpoints = {
        "throttled": sim_endpoint_with(sim, min_workers=0, max_workers=0, throttled_workers=2),
        "no_workers": sim_endpoint_with(sim, min_workers=0, max_workers=0),
        "initializing": sim_endpoint_with(
            sim, min_workers=0, max_workers=1, cold_start=10**6, scaler="request_count", scaler_value=1
        ),
    }
    silenced = sim_endpoint_with(sim, min_workers=0, max_workers=0)
    Silence.objects.create(
        key=f"stuck_queue:{silenced.pk}", kind="stuck_queue", until=timezone.now() + timedelta(hours=1), reason="test"
    )
    for endpoint in [*endpoints.values(), silenced]:
        submit(endpoint, count=2)
    endpoints["key_refused"] = refused

    waiting(lambda: len(messages(receiver, "fired")) >= 4, alert_worker, timeout=90, message="four alerts")
    causes = {m["alert"]["endpoint"]: m["alert"]["evidence"]["cause"] for m in messages(receiver, "fired")}
    assert causes == {e.name: cause for cause, e in endpoints.items()}
    sentences = {m["alert"]["endpoint"]: m["alert"]["summary"] for m in messages(receiver, "fired")}
    assert "throttled" in sentences[endpoints["throttled"].name]
    assert "No workers at all" in sentences[endpoints["no_workers"].name]
    assert "stuck initializing" in sentences[endpoints["initializing"].name]
    assert "refuses the endpoint's API key" in sentences[refused.name]
    assert Alert.objects.filter(endpoint=silenced, state="firing").exists()
    assert messages(receiver, endpoint=silenced.name) == []
    assert "silenced" in logged_in_viewer().get("/alerts/").content.decode()
    assert len(receiver.requests) == 4  # one each, nothing repeated while they keep firing


def logged_in_viewer():
    from tests.factories import make_user

    return logged_in(make_user("Viewers"))


def test_unhealthy_workers_for_a_while_make_exactly_one_alert_resolved_once(sim, alert_worker, receiver):
    """Every worker unhealthy: one message naming it; workers back: one resolution, and nothing more."""
    endpoint = sim_endpoint_with(sim, min_workers=0, max_workers=0, unhealthy_workers=2)
    submit(endpoint, count=3)
    fired = waiting(lambda: messages(receiver, "fired", endpoint.name), alert_worker, timeout=90, message="the alert")
    assert fired[0]["alert"]["evidence"]["cause"] == "unhealthy"
    assert "Every worker is unhealthy (2 unhealthy" in fired[0]["alert"]["summary"]
    sim.add_endpoint(endpoint.name, min_workers=1, max_workers=2, unhealthy_workers=0)
    waiting(lambda: messages(receiver, "resolved", endpoint.name), alert_worker, timeout=90, message="the resolution")
    wait_for(lambda: Job.objects.filter(endpoint=endpoint, status="COMPLETED").count() == 3, timeout=20)
    alert_worker_ticks(3)
    assert [m["event"] for m in messages(receiver, endpoint=endpoint.name)] == ["fired", "resolved"]
    alert = Alert.objects.get(endpoint=endpoint)
    assert alert.state == "resolved" and alert.evidence["cause"] == "unhealthy"


def alert_worker_ticks(count):
    """Let `count` more alert evaluations run: wait for their marker to move that many times."""
    from alerts.models import Marker
    from alerts.services.tick import EVALUATED_MARKER

    def stamp():
        return Marker.objects.filter(name=EVALUATED_MARKER).values_list("at", flat=True).first()

    for _ in range(count):
        before = stamp()
        wait_for(lambda before=before: stamp() != before, timeout=20, message="an alert evaluation")


def test_a_failure_burst_makes_one_alert_naming_its_commonest_error(sim, alert_worker, receiver):
    """Most of a dozen jobs fail, most with one error differing only in hex and numbers: one alert naming it."""
    failing = sim_endpoint_with(sim, min_workers=2, max_workers=4)
    for i in range(8):
        submit(failing, fail=f"CUDA error: out of memory at 0x{i:08x} on device {i % 2}", seconds=0.05)
    submit(failing, fail="disk /var/lib/x full", seconds=0.05)
    submit(failing, count=3, seconds=0.05)
    [burst] = waiting(
        lambda: messages(receiver, "fired", failing.name, rule="failure_rate"), alert_worker, timeout=90, message="it"
    )
    # It fires as soon as the share is over 20 % of at least 5 finished jobs, naming the commonest group so far.
    summary = burst["alert"]["summary"]
    assert "jobs failed or timed out in 10 min" in summary
    assert "x): RuntimeError: CUDA error: out of memory at <hex> on device <n>" in summary
    alert_worker_ticks(2)
    assert len(messages(receiver, "fired", failing.name, rule="failure_rate")) == 1


def test_runaway_and_ignored_cancel_are_flagged_within_two_poll_cycles(sim, alert_worker, receiver):
    """A job past its 5 s timeout plus 1 s grace, and one still running after our cancel: one alert naming both."""
    sim.configure(ignore_cancel=True, ignore_timeout=True)
    endpoint = sim_endpoint_with(sim, min_workers=2, max_workers=2)
    [late] = [
        services.job_submit(endpoint=endpoint, input={"simulate": {"seconds": 30}}, policy={"executionTimeout": 5000})
    ]
    [stubborn] = submit(endpoint, seconds=30)
    waiting(
        lambda: Job.objects.filter(endpoint=endpoint, status="IN_PROGRESS").count() == 2,
        alert_worker,
        timeout=60,
        message="both running",
    )
    stubborn.refresh_from_db()
    cancelled_at = timezone.now()
    services.job_cancel(job=stubborn)
    late.refresh_from_db()

    def flagged():
        for alert in Alert.objects.filter(endpoint=endpoint, kind="runaway"):
            if stubborn.pk in alert.latest["ignored_cancel"] and late.pk in alert.latest["past_timeout"]:
                return alert
        return None

    wait_for(flagged, timeout=30, message="both runaways flagged")
    # Two poll cycles (2 x 2 s) after the cancel, plus a tick and a poll; the timeout one 6 s after it started.
    assert timezone.now() - cancelled_at < timedelta(seconds=20)
    wait_for(lambda: messages(receiver, "fired", endpoint.name), timeout=60, message="the message")
    assert "still running after we cancelled them" in messages(receiver, "fired", endpoint.name)[0]["alert"]["summary"]


def test_a_result_that_expired_before_we_archived_it_is_an_alert(sim, alert_worker, receiver):
    """Polling paused past RunPod's retention (1.8 s at time scale 1000): the lost result is always alerted."""
    sim.configure(time_scale=1000)
    endpoint = sim_endpoint_with(sim, min_workers=1, max_workers=1)
    [job] = submit(endpoint, seconds=1.0)
    wait_for(lambda: Job.objects.filter(pk=job.pk, seen_at__isnull=False).exists(), timeout=20, message="seen once")
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    wait_for(lambda: sim.stats()["jobs"][endpoint.name] == {}, timeout=20, message="RunPod to drop the job")
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=True)
    [lost] = waiting(
        lambda: messages(receiver, "fired", endpoint.name, rule="results_at_risk"),
        alert_worker,
        timeout=60,
        message="the loss alert",
    )
    assert lost["alert"]["rule"] == "results_at_risk"
    assert "1 job(s) expired at RunPod before we archived them" in lost["alert"]["summary"]
    assert lost["alert"]["evidence"]["lost"] == [job.pk]


def test_stopping_the_worker_and_beat_shows_the_banner_and_healthz_503(sim, alert_worker, settings):
    """With jobs in flight and no poll round for 10 s, /healthz answers 503 and pages carry the banner; then clear."""
    settings.ALERT_POLL_STALL_SECONDS = 10
    endpoint = sim_endpoint_with(sim, min_workers=1, max_workers=1)
    submit(endpoint, seconds=120)
    waiting(
        lambda: Job.objects.filter(endpoint=endpoint, status="IN_PROGRESS").exists(),
        alert_worker,
        timeout=60,
        message="the job running",
    )
    client = Client()
    assert client.get("/healthz").status_code == 200
    alert_worker.kill()
    stopped = timezone.now()
    response = wait_for(lambda: (r := client.get("/healthz")).status_code == 503 and r, timeout=60, interval=0.5)
    assert "No poll round has finished" in response.json()["reason"]
    assert timezone.now() - stopped < timedelta(seconds=60)
    assert "Polling has stalled" in logged_in_viewer().get("/jobs/").content.decode()
    replacement = CeleryWorker(queue=alert_worker.queue, env=ALERT_ENV, concurrency=3).start()
    try:
        wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, interval=0.5, message="recovery")
    finally:
        replacement.stop()
