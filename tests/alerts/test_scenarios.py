"""What a person receives, end to end: a real Celery worker and beat on Redis, the simulator over real HTTP, and a
webhook channel served by the test. Thresholds are compressed (a 5 s stuck queue, a 3 s hold-down) so each
scenario takes seconds; the rules and their order are those of production.

One worker serves the whole module, and the scenarios that can share a world run side by side on their own
simulator endpoints: the stuck-queue causes beside the unhealthy-then-recovered endpoint and the busy one draining
500 jobs; the failure burst beside the runaways and the lost result. Each endpoint's messages are told apart by
name, so running them together asserts as much as running them one by one, in a fraction of the time.
"""

import uuid
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, Marker, RuleKind, RuleSetting, Silence
from alerts.services.tick import EVALUATED_MARKER
from jobs import services
from jobs.models import Endpoint, Job
from tests.alerts.receivers import HttpReceiver
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint, make_user
from tests.utils import logged_in, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STUCK_SECONDS = 5
ALERT_ENV = {
    "ALERT_TICK_SECONDS": "1",
    # Production's poll tick: the test workers' 1 s keeps a loaded machine's pool busy with ticks alone.
    "POLL_TICK_SECONDS": "2",
    "ALERT_HOLD_DOWN_SECONDS": "3",
    "ALERT_RETRY_BASE_SECONDS": "0.5",
    "SITE_URL": "http://dashboard.test",
}


@pytest.fixture(scope="module")
def shared_worker(django_db_setup):
    """One worker with its beat for the module (starting one costs seconds on a loaded machine). Its box is
    refilled if a test killed it."""
    box = {"worker": CeleryWorker(env=ALERT_ENV, concurrency=3).start()}
    yield box
    box["worker"].stop()


@pytest.fixture
def alert_worker(shared_worker, transactional_db, sim):
    """The module's worker, alive, with stuck queues after 5 s and runaways 1 s past their timeout."""
    RuleSetting.objects.create(kind=RuleKind.STUCK_QUEUE, threshold=STUCK_SECONDS)
    RuleSetting.objects.create(kind=RuleKind.RUNAWAY, threshold=1)
    sim.configure(time_scale=1.0, api_key=None, ignore_cancel=False, ignore_timeout=False, latency_ms=0)
    worker = shared_worker["worker"]
    if worker.proc.poll() is not None:
        worker = shared_worker["worker"] = CeleryWorker(queue=worker.queue, env=ALERT_ENV, concurrency=3).start()
    yield worker
    sim.configure(time_scale=1.0, api_key=None, ignore_cancel=False, ignore_timeout=False)


@pytest.fixture
def receiver(transactional_db):
    with HttpReceiver() as hook:
        Channel.objects.create(name="ops", kind=Channel.Kind.WEBHOOK, url=f"{hook.url}/hook", secret="k")
        yield hook


def messages(hook, event=None, endpoint=None, rule=None):
    found = []
    for index in range(len(hook.requests)):
        payload = hook.json(index)
        alert = payload["alert"]
        wanted = (event, payload["event"]), (endpoint, alert["endpoint"]), (rule, alert["rule"])
        if all(want in (None, have) for want, have in wanted):
            found.append(payload)
    return found


def world() -> str:
    """What the alerts, deliveries, endpoints and jobs look like now, for a failure message."""
    from django.db.models import Count

    alerts = list(Alert.objects.values_list("key", "state", "summary"))
    deliveries = list(Delivery.objects.values_list("alert_id", "event", "state", "last_error"))
    endpoints = list(
        Endpoint.objects.annotate(snapshots=Count("health_snapshots")).values_list(
            "name", "snapshots", "last_health_at", "backoff_until", "rate_limited_total", "last_error"
        )
    )
    jobs = list(Job.objects.values("endpoint__name", "status").annotate(n=Count("id")).order_by())
    return f"alerts: {alerts}\ndeliveries: {deliveries}\nendpoints: {endpoints}\njobs: {jobs}"


def waiting(predicate, worker, *, timeout, message):
    """wait_for that, on timeout, says what the world and the worker's log show."""
    try:
        return wait_for(predicate, timeout=timeout, message=message)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{world()}\n{worker.output()[-3000:]}") from exc


def sim_endpoint_with(sim, prefix="ep", poll_queued_seconds=1, poll_queued_max_seconds=1.5, **pool):
    """An Endpoint row on a fresh simulator endpoint with this worker pool."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    sim.add_endpoint(name, **{"cold_start": 0.2, "job_seconds": [0.05, 0.2], **pool})
    # Poll cadence compressed like the 5 s threshold (RunPod's 30 s longest queued interval against 120 s).
    return make_endpoint(
        name=name,
        runpod_id=name,
        base_url=sim.base_url,
        api_key="sim-key",
        poll_queued_seconds=poll_queued_seconds,
        poll_queued_max_seconds=poll_queued_max_seconds,
    )


def submit(endpoint, count=1, **simulate):
    return [services.job_submit(endpoint=endpoint, input={"n": i, "simulate": simulate}) for i in range(count)]


def queue_at_runpod(sim, endpoint, count):
    """`count` jobs POSTed straight to the simulator's /run, as the team's own service would, then tracked here:
    a real queue of that depth at RunPod, followed by our poller."""
    url = f"{sim.base_url}/{endpoint.runpod_id}/run"
    with httpx.Client(headers={"Authorization": "Bearer sim-key"}, timeout=10) as client:
        ids = [client.post(url, json={"input": {"n": n}}).json()["id"] for n in range(count)]
    return [services.job_track(endpoint=endpoint, runpod_id=runpod_id) for runpod_id in ids]


def alert_ticks(count):
    """Let `count` more alert evaluations run: wait for their marker to move that many times."""

    def stamp():
        return Marker.objects.filter(name=EVALUATED_MARKER).values_list("at", flat=True).first()

    for _ in range(count):
        before = stamp()
        wait_for(lambda before=before: stamp() != before, timeout=20, message="an alert evaluation")


def logged_in_viewer():
    return logged_in(make_user("Viewers"))


def test_stuck_queues_name_their_cause_and_a_busy_draining_queue_raises_nothing(sim, alert_worker, receiver):
    """Side by side on one worker: throttled, no workers, stuck initializing and a refused key each get one message
    naming the cause; a silenced one none; every worker unhealthy gets one message, then one resolution once they
    recover; and a healthy endpoint draining a 500-job queue, whose jobs wait far past the threshold, gets nothing."""
    sim.configure(api_key="sim-key")
    # The refused key: the health tick records the 401 (long before RunPod's 120 s threshold in production), then a
    # tracked job waits behind it.
    refused = sim_endpoint_with(sim, "refused")
    Endpoint.objects.filter(pk=refused.pk).update(api_key="wrong-key")
    stuck = {
        "throttled": sim_endpoint_with(sim, "throttled", min_workers=0, max_workers=0, throttled_workers=2),
        "no_workers": sim_endpoint_with(sim, "none", min_workers=0, max_workers=0),
        "initializing": sim_endpoint_with(
            sim, "init", min_workers=0, max_workers=1, cold_start=10**6, scaler="request_count", scaler_value=1
        ),
    }
    silenced = sim_endpoint_with(sim, "silenced", min_workers=0, max_workers=0)
    Silence.objects.create(
        key=f"stuck_queue:{silenced.pk}", kind="stuck_queue", until=timezone.now() + timedelta(hours=1), reason="test"
    )
    unhealthy = sim_endpoint_with(sim, "unhealthy", min_workers=0, max_workers=0, unhealthy_workers=2)
    # Busy and healthy: four workers at 0.1-0.3 s a job drain 500 jobs in about 25 s, so the last ones wait many
    # times the threshold. Polled from 3 s (production's first interval) backing off to 10 s.
    busy = sim_endpoint_with(
        sim,
        "busy",
        poll_queued_seconds=3,
        poll_queued_max_seconds=30,
        min_workers=4,
        max_workers=4,
        job_seconds=[0.1, 0.3],
    )
    busy_jobs = queue_at_runpod(sim, busy, 500)
    for endpoint in [*stuck.values(), silenced, unhealthy]:
        submit(endpoint, count=2)
    waiting(
        lambda: Endpoint.objects.filter(pk=refused.pk, auth_failed_at__isnull=False).exists(),
        alert_worker,
        timeout=60,
        message="the 401 recorded",
    )
    refused.refresh_from_db()
    services.job_track(endpoint=refused, runpod_id="job-submitted-elsewhere")
    stuck["key_refused"] = refused

    [fired] = waiting(
        lambda: messages(receiver, "fired", unhealthy.name), alert_worker, timeout=90, message="the unhealthy alert"
    )
    assert fired["alert"]["evidence"]["cause"] == "unhealthy"
    assert "Every worker is unhealthy (2 unhealthy" in fired["alert"]["summary"]
    sim.add_endpoint(unhealthy.name, min_workers=1, max_workers=2, unhealthy_workers=0)

    names = {e.name for e in stuck.values()}
    waiting(
        lambda: names <= {m["alert"]["endpoint"] for m in messages(receiver, "fired")},
        alert_worker,
        timeout=90,
        message="an alert for each stuck cause",
    )
    waiting(lambda: messages(receiver, "resolved", unhealthy.name), alert_worker, timeout=90, message="the resolution")
    # The busy queue: every job done in our records (it drained at RunPod well before), then a few more ticks.
    waiting(
        lambda: Job.objects.filter(endpoint=busy, status="COMPLETED").count() == 500,
        alert_worker,
        timeout=180,
        message="the busy queue drained",
    )
    wait_for(lambda: Job.objects.filter(endpoint=unhealthy, status="COMPLETED").count() == 2, timeout=30)
    alert_ticks(3)

    by_endpoint = {}
    for message in messages(receiver):
        by_endpoint.setdefault(message["alert"]["endpoint"], []).append(message)
    for cause, endpoint in stuck.items():
        [message] = by_endpoint.pop(endpoint.name)  # one each, nothing repeated while they keep firing
        assert message["event"] == "fired" and message["alert"]["evidence"]["cause"] == cause
    assert [m["event"] for m in by_endpoint.pop(unhealthy.name)] == ["fired", "resolved"]
    assert by_endpoint == {}, world()  # nothing for the silenced endpoint, nothing for the busy one
    sentences = {e.name: Alert.objects.get(endpoint=e).summary for e in stuck.values()}
    assert "throttled" in sentences[stuck["throttled"].name]
    assert "No workers at all" in sentences[stuck["no_workers"].name]
    assert "stuck initializing" in sentences[stuck["initializing"].name]
    assert "refuses the endpoint's API key" in sentences[refused.name]
    assert Alert.objects.get(endpoint=unhealthy).state == "resolved"
    assert Alert.objects.filter(endpoint=silenced, state="firing").exists()
    assert "silenced" in logged_in_viewer().get("/alerts/").content.decode()
    # The busy queue really was deep: its last jobs waited at RunPod three times the threshold, and yet no alert.
    delays = Job.objects.filter(pk__in=[job.pk for job in busy_jobs]).values_list("delay_ms", flat=True)
    assert max(d or 0 for d in delays) > 3 * STUCK_SECONDS * 1000
    assert not Alert.objects.filter(endpoint=busy).exists()


def test_a_failure_burst_runaways_and_a_lost_result_are_each_one_alert(sim, alert_worker, receiver):
    """Side by side: a failure burst names its commonest error group; a job past its timeout and one still running
    after our cancel are flagged within two poll cycles; a result RunPod dropped before we archived it is an alert."""
    sim.configure(ignore_cancel=True, ignore_timeout=True)
    failing = sim_endpoint_with(sim, "failing", min_workers=2, max_workers=4)
    runaway = sim_endpoint_with(sim, "runaway", min_workers=2, max_workers=2)
    losing = sim_endpoint_with(sim, "losing", min_workers=1, max_workers=1)
    # Most of a dozen jobs fail, most with one error differing only in hex and numbers.
    for i in range(8):
        submit(failing, fail=f"CUDA error: out of memory at 0x{i:08x} on device {i % 2}", seconds=0.05)
    submit(failing, fail="disk /var/lib/x full", seconds=0.05)
    submit(failing, count=3, seconds=0.05)
    late = services.job_submit(endpoint=runaway, input={"simulate": {"seconds": 30}}, policy={"executionTimeout": 5000})
    [stubborn] = submit(runaway, seconds=30)
    [lost] = submit(losing, seconds=1.0)

    # The lost result: seen once, then polling paused while RunPod keeps it only 0.2 s after it finishes
    # (`/status?ttl=`, per job, so no other scenario's retention changes).
    wait_for(lambda: Job.objects.filter(pk=lost.pk, seen_at__isnull=False).exists(), timeout=30, message="seen once")
    Endpoint.objects.filter(pk=losing.pk).update(enabled=False)
    lost.refresh_from_db()
    with httpx.Client(headers={"Authorization": "Bearer sim-key"}, timeout=10) as client:
        client.get(f"{sim.base_url}/{losing.runpod_id}/status/{lost.runpod_id}", params={"ttl": 200})
    wait_for(lambda: sim.stats()["jobs"][losing.name] == {}, timeout=30, message="RunPod to drop the job")
    Endpoint.objects.filter(pk=losing.pk).update(enabled=True)

    waiting(
        lambda: Job.objects.filter(endpoint=runaway, status="IN_PROGRESS").count() == 2,
        alert_worker,
        timeout=60,
        message="both running",
    )
    stubborn.refresh_from_db()
    cancelled_at = timezone.now()
    services.job_cancel(job=stubborn)

    def flagged():
        for alert in Alert.objects.filter(endpoint=runaway, kind="runaway"):
            if stubborn.pk in alert.latest["ignored_cancel"] and late.pk in alert.latest["past_timeout"]:
                return alert
        return None

    waiting(flagged, alert_worker, timeout=30, message="both runaways flagged")
    # Two poll cycles (2 x 2 s) after the cancel, plus a tick and a poll; the timeout one 6 s after it started.
    assert timezone.now() - cancelled_at < timedelta(seconds=20)

    [burst] = waiting(
        lambda: messages(receiver, "fired", failing.name, rule="failure_rate"),
        alert_worker,
        timeout=90,
        message="the failure-rate alert",
    )
    [loss] = waiting(
        lambda: messages(receiver, "fired", losing.name, rule="results_at_risk"),
        alert_worker,
        timeout=60,
        message="the loss alert",
    )
    waiting(lambda: messages(receiver, "fired", runaway.name), alert_worker, timeout=60, message="the runaway message")
    alert_ticks(2)

    # It fires as soon as the share is over 20 % of at least 5 finished jobs, naming the commonest group so far.
    summary = burst["alert"]["summary"]
    assert "jobs failed or timed out in 10 min" in summary
    assert "x): RuntimeError: CUDA error: out of memory at <hex> on device <n>" in summary
    assert len(messages(receiver, "fired", failing.name, rule="failure_rate")) == 1
    [runaways] = messages(receiver, "fired", runaway.name)
    assert "still running after we cancelled them" in runaways["alert"]["summary"]
    assert "1 job(s) expired at RunPod before we archived them" in loss["alert"]["summary"]
    assert loss["alert"]["evidence"]["lost"] == [lost.pk]


def test_stopping_the_worker_and_beat_shows_the_banner_and_healthz_503(sim, shared_worker, alert_worker, settings):
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
    # The replacement becomes the module's worker (stopped with the module, used by any test after this one).
    shared_worker["worker"] = CeleryWorker(queue=alert_worker.queue, env=ALERT_ENV, concurrency=3).start()
    wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, interval=0.5, message="recovery")
