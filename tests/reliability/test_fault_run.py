"""Thousands of jobs through the real worker and beat while RunPod misbehaves in every documented way: 5xx,
timeouts, dropped connections, 429 bursts with and without Retry-After, slow answers. Every result RunPod
produced is archived, nothing is stored twice, and the poller is back to normal within a cycle of the faults
stopping."""

import shutil
import threading
import time
import uuid

import pytest
from django.utils import timezone

from jobs.models import Endpoint, Job, JobStatus
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint
from tests.utils import wait_for

from .figures import figures_dir, record
from .runs import books, bulk_submit, job_mix, progress_report, unsettled, wait_progressing, wait_settled
from .servers import RecordingSimulator

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOBS = 2_000
# RunPod's retention shrinks by TIME_SCALE: /run results live 15 min, runsync ones 30 s. The worker's own clocks
# run about twice as fast as in production (1 s ticks, 4 s leases, 1 s timeouts), so this keeps the real ratio.
TIME_SCALE = 2
# One poll cycle in the worker's settings (tests.celery_worker): a beat tick, and the longest a round then runs.
POLL_TICK_SECONDS = 1.0
POLL_TASK_BUDGET_SECONDS = 3.0
BASE_FAULTS = {"error_rate": 0.10, "timeout_rate": 0.05, "hang_seconds": 1.5, "drop_rate": 0.03}
BURST = 15
NO_FAULTS = {"error_rate": 0, "timeout_rate": 0, "drop_rate": 0, "rate_limit_burst": 0, "latency_ms": 0}
NO_FAULTS |= {"latency_jitter_ms": 0, "retry_after": None}


class Chaos(threading.Thread):
    """Plays faults on the simulator until stopped: steady 5xx, timeouts and drops, and every `period` seconds a
    429 burst (alternately with and without Retry-After), every third period with slow answers too."""

    def __init__(self, sim, period=3.0):
        super().__init__(daemon=True)
        self.sim, self.period = sim, period
        self.stopping = threading.Event()
        self.played = {"bursts_with_retry_after": 0, "bursts_without_retry_after": 0, "slow_periods": 0}

    def run(self):
        self.sim.configure(**BASE_FAULTS)
        step = 0
        while not self.stopping.wait(self.period):
            step += 1
            with_retry_after = step % 2 == 0
            slow = step % 3 == 0
            self.sim.configure(
                rate_limit_burst=BURST,
                retry_after=2 if with_retry_after else None,
                latency_ms=250 if slow else 0,
                latency_jitter_ms=500 if slow else 0,
            )
            # A burst is a moment, not a debt: what traffic has not used up within half a second is dropped.
            if not self.stopping.wait(0.5):
                self.sim.configure(rate_limit_burst=0)
            self.played["bursts_with_retry_after" if with_retry_after else "bursts_without_retry_after"] += 1
            self.played["slow_periods"] += slow

    def stop(self):
        self.stopping.set()
        self.join(10)
        self.sim.configure(**NO_FAULTS)


def recovery(endpoint, sim, stopped_at, timeout=60):
    """Seconds from the faults stopping until polling is normal again (a round has run since and the endpoint is
    not backing off), then until every job an error had pushed back has been polled again."""

    def normal():
        fresh = Endpoint.objects.get(pk=endpoint.pk)
        backing_off = fresh.backoff_until is not None and fresh.backoff_until > timezone.now()
        return fresh.last_poll_at is not None and fresh.last_poll_at > stopped_at and not backing_off

    def caught_up():
        return not Job.objects.filter(endpoint=endpoint, archived=False, poll_failures__gt=0).exists()

    seconds = []
    for condition, message in ((normal, "the poller back to normal"), (caught_up, "every pushed-back job polled")):
        try:
            wait_for(condition, timeout=timeout, interval=0.1, message=message)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{progress_report(endpoint, sim)}") from exc
        seconds.append((timezone.now() - stopped_at).total_seconds())
    return seconds


def test_thousands_of_jobs_survive_every_runpod_fault(settings):
    """2,000 jobs under 5xx, timeouts, drops, 429 bursts and slow answers: none lost, none doubled, quick recovery."""
    with RecordingSimulator(seed=11, time_scale=TIME_SCALE, endpoints=[]) as sim:
        name = f"faults-{uuid.uuid4().hex[:6]}"
        sim.add_endpoint(name, min_workers=16, max_workers=24, cold_start=0, job_seconds=[0.02, 0.2])
        endpoint = make_endpoint(name=name, runpod_id=name, base_url=sim.base_url, api_key="rpa_FAULTRUN")
        worker = CeleryWorker(concurrency=4).start()
        chaos = Chaos(sim)
        try:
            chaos.start()
            kinds = job_mix(JOBS)
            started = time.monotonic()
            bulk_submit(endpoint, kinds)
            try:
                settled = JOBS * 0.7
                wait_progressing(lambda: JOBS - unsettled(endpoint).count(), settled, message="most settled")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{progress_report(endpoint, sim, worker)}") from exc
            before_stop = sim.stats()
            chaos.stop()
            stopped_at = timezone.now()
            # A 429 just before the stop asked us to wait (Retry-After, or our own backoff without one): that wait
            # is obeyed, and the cycle is counted from its end.
            asked_to_wait = Endpoint.objects.get(pk=endpoint.pk).backoff_until
            released_at = max(stopped_at, asked_to_wait) if asked_to_wait else stopped_at
            cycle = POLL_TICK_SECONDS + POLL_TASK_BUDGET_SECONDS
            recovered_in, caught_up_in = recovery(endpoint, sim, stopped_at)
            wait_settled(endpoint)
            elapsed = time.monotonic() - started
            stats = sim.stats()
        finally:
            chaos.stopping.set()
            worker.stop()
            shutil.copy(worker.log_path, figures_dir() / "fault_run-worker.log")
        assert "rpa_FAULTRUN" not in worker.output()

    figures = books(endpoint, kinds, stats)
    faults = {kind: stats["faults"].get(kind, 0) for kind in ("error", "timeout", "drop", "burst_429", "rate_limited")}
    record(
        "fault_run",
        command="pytest tests/reliability/test_fault_run.py",
        time_scale=TIME_SCALE,
        seconds=round(elapsed, 1),
        requests=stats["requests_total"],
        faults_injected=faults,
        faults_played=chaos.played,
        faults_while_faulty=before_stop["faults"],
        recovery_seconds=round(recovered_in, 2),
        backoff_pending_at_stop_seconds=round((released_at - stopped_at).total_seconds(), 2),
        every_pushed_back_job_polled_seconds=round(caught_up_in, 2),
        cycle_seconds=cycle,
        max_status_calls_per_10s=stats["max_poll_per_10s_any"],
        **figures,
    )
    assert figures["problems"] == []
    assert all(faults[kind] > 0 for kind in ("error", "timeout", "drop", "burst_429")), faults
    assert chaos.played["bursts_with_retry_after"] and chaos.played["bursts_without_retry_after"]
    assert (
        Job.objects.filter(endpoint=endpoint, status=JobStatus.SUBMIT_FAILED).exclude(submit_error="").count()
        == (figures["refused_at_submission"])
    ), "every refused submission says why"
    late = recovered_in - (released_at - stopped_at).total_seconds()
    assert late <= cycle, f"back to normal {late:.1f} s after the faults stopped and any asked-for wait ended"
