"""The whole tracking core on real parts: a Celery worker and its beat on the real Redis broker, the simulator
over real HTTP with time compressed so RunPod's retention is seconds. Nothing may be lost or stored twice."""

import pytest
from django.db.models import Count

from jobs import services
from jobs.models import HealthSnapshot, Job, StatusTransition, StreamChunk
from tests.reliability.runs import progress_report
from tests.utils import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# 30 minutes of /run retention last 7.5 minutes, a runsync result 15 s: a few poll cycles even on a loaded machine.
TIME_SCALE = 4


def submit_batch(endpoint, *, normal=300, runsync=3, streams=3):
    jobs = {"normal": [], "failing": [], "runsync": [], "stream": []}
    for i in range(normal):
        if i % 25 == 0:
            jobs["failing"].append(
                services.job_submit(endpoint=endpoint, input={"simulate": {"seconds": 0.05, "fail": f"bad {i}"}})
            )
        else:
            jobs["normal"].append(services.job_submit(endpoint=endpoint, input={"n": i}))
    for i in range(runsync):
        # Longer than the worker's runsync wait, so RunPod hands back an id that must be polled at once.
        jobs["runsync"].append(
            services.job_submit(endpoint=endpoint, input={"simulate": {"seconds": 1.5}, "n": i}, mode="runsync")
        )
    for _ in range(streams):
        jobs["stream"].append(
            services.job_submit(endpoint=endpoint, input={"simulate": {"stream": 8, "interval": 0.2}}, streaming=True)
        )
    return jobs


def wait_all_archived(endpoint, timeout):
    def done():
        return not Job.objects.filter(endpoint=endpoint, archived=False).exists()

    try:
        wait_for(done, timeout=timeout, interval=0.5, message="every job archived")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{progress_report(endpoint)}") from exc


def assert_nothing_lost_or_doubled(endpoint, jobs):
    assert not Job.objects.filter(endpoint=endpoint, expired=True).exists(), "a result expired before archiving"
    for job in jobs["normal"]:
        job.refresh_from_db()
        assert job.status == "COMPLETED" and job.output == job.input, job.runpod_id
    for job in jobs["failing"]:
        job.refresh_from_db()
        assert job.status == "FAILED" and "bad" in job.error_raw
    for job in jobs["runsync"]:
        job.refresh_from_db()
        assert job.status == "COMPLETED" and job.has_output
    for job in jobs["stream"]:
        seqs = list(StreamChunk.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(8)), f"chunks of {job.runpod_id}: {seqs}"
    doubled = (
        StatusTransition.objects.filter(job__endpoint=endpoint)
        .values("job", "from_status", "to_status")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not doubled.exists(), list(doubled[:5])


def test_a_batch_is_archived_whole_by_the_worker_and_beat(sim, sim_endpoint, celery_worker):
    """Hundreds of /run jobs, runsync and streaming jobs all end archived, in order, once, with health recorded."""
    sim.configure(time_scale=TIME_SCALE)
    jobs = submit_batch(sim_endpoint)
    wait_all_archived(sim_endpoint, timeout=150)
    assert_nothing_lost_or_doubled(sim_endpoint, jobs)
    assert HealthSnapshot.objects.filter(endpoint=sim_endpoint).count() >= 2


def test_nothing_is_lost_while_runpod_misbehaves(sim, sim_endpoint, celery_worker):
    """With 5xx, timeouts, dropped connections and 429 bursts during polling, every result is still archived."""
    sim.configure(time_scale=TIME_SCALE)
    jobs = submit_batch(sim_endpoint, normal=200)
    wait_for(
        lambda: not Job.objects.filter(endpoint=sim_endpoint, runpod_id__isnull=True).exists(),
        timeout=60,
        message="every job sent",
    )
    before = sim.stats()["faults"]
    sim.configure(error_rate=0.1, timeout_rate=0.05, hang_seconds=1.5, drop_rate=0.03, rate_limit_burst=30)
    try:
        wait_all_archived(sim_endpoint, timeout=150)
    finally:
        sim.configure(error_rate=0, timeout_rate=0, drop_rate=0, rate_limit_burst=0)
    assert_nothing_lost_or_doubled(sim_endpoint, jobs)
    after = sim.stats()["faults"]
    injected = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}
    assert all(injected.get(kind, 0) > 0 for kind in ("error", "burst_429")), injected
    assert injected.get("timeout", 0) + injected.get("drop", 0) > 0, injected


def test_a_worker_killed_mid_poll_loses_nothing(sim, sim_endpoint, celery_worker):
    """SIGKILL the worker while it polls; a new worker picks up the leased jobs and archives them all."""
    from tests.celery_worker import CeleryWorker

    # A dead worker's endpoint is unpolled for one lease plus a worker start-up (~10 s here): runsync results
    # must outlive that, as their real 60 s do.
    sim.configure(time_scale=4)
    # No streams: a /stream call in flight when the worker dies has taken chunks RunPod never sends again.
    jobs = submit_batch(sim_endpoint, normal=200, streams=0)
    # Killed mid-poll, not mid-send: a send lost with its worker is recovered by the resend sweep, a separate path.
    wait_for(
        lambda: not Job.objects.filter(endpoint=sim_endpoint, runpod_id__isnull=True).exists(),
        timeout=60,
        message="every job sent",
    )
    wait_for(
        lambda: Job.objects.filter(endpoint=sim_endpoint, archived=True).count() >= 20,
        timeout=60,
        message="polling under way",
    )
    celery_worker.kill()
    replacement = CeleryWorker(queue=celery_worker.queue, env=celery_worker.extra_env).start()
    try:
        wait_all_archived(sim_endpoint, timeout=150)
    finally:
        replacement.stop()
    assert_nothing_lost_or_doubled(sim_endpoint, jobs)
