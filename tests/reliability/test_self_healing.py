"""A worker that stops consuming (as after a Redis restart, celery/celery#10205) is found by `manage.py health`
and replaced, the way compose's healthcheck or `make run` does: polling resumes within 60 s, nothing is lost."""

import os
import signal
import socket
import time
import uuid
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from jobs import services
from jobs.models import Endpoint, Heartbeat, Job
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint
from tests.utils import wait_for

from .figures import record
from .runs import books, bulk_submit, job_mix, progress_report, wait_settled
from .servers import BeatProcess, RecordingSimulator

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STALE_SECONDS = 5  # ticks go out every second in the test worker's settings


def worker_healthy(worker) -> bool:
    try:
        call_command("health", "worker", f"{worker.queue}@{socket.gethostname()}", "--stale-seconds", STALE_SECONDS)
    except CommandError:
        return False
    return True


def test_a_worker_that_stops_consuming_is_detected_replaced_and_loses_nothing():
    """SIGSTOP the worker (it takes no tick while beat keeps sending): the health check fails, a supervisor's
    restart follows, polling resumes within 60 s of the freeze, and every job is archived once."""
    with RecordingSimulator(seed=5, time_scale=2, endpoints=[]) as sim:
        name = f"heal-{uuid.uuid4().hex[:6]}"
        sim.add_endpoint(name, min_workers=4, max_workers=8, cold_start=0, job_seconds=[0.1, 0.4])
        endpoint = make_endpoint(name=name, runpod_id=name, base_url=sim.base_url, api_key="rpa_HEAL_KEY_1")
        worker = CeleryWorker(beat=False, concurrency=2).start()
        beat = BeatProcess(queue=worker.queue).start()
        processes = [worker, beat]
        try:
            kinds = job_mix(40, runsync=0, streams=0)
            bulk_submit(endpoint, kinds)
            try:
                wait_for(
                    lambda: worker_healthy(worker) and archived(endpoint) >= 10, timeout=120, message="a healthy run"
                )
            except AssertionError as exc:
                beats = list(Heartbeat.objects.values_list("name", "at"))
                raise AssertionError(
                    f"{exc}: {archived(endpoint)} archived, heartbeats {beats}\n"
                    f"{worker.output()[-3000:]}\n{beat.output()[-2000:]}"
                ) from exc
            os.killpg(worker.proc.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            during = job_mix(10, runsync=0, streams=0, seed=3)
            for kind in during:
                services.job_submit(endpoint=endpoint, input={**kind.input, "during_freeze": True})
            wait_for(lambda: not worker_healthy(worker), timeout=30, message="the health check to fail")
            detected = time.monotonic() - frozen_at
            worker.kill()  # what the supervisor does with a failing worker: SIGKILL works on a stopped one too
            worker = CeleryWorker(beat=False, concurrency=2, queue=worker.queue).start()
            processes.append(worker)
            polled = Endpoint.objects.get(pk=endpoint.pk).last_poll_at
            wait_for(
                lambda: Endpoint.objects.get(pk=endpoint.pk).last_poll_at > polled,
                timeout=60 - (time.monotonic() - frozen_at),
                message="polling resumed within 60 s of the freeze",
            )
            resumed = time.monotonic() - frozen_at
            kinds += [replace(kind, input={**kind.input, "during_freeze": True}) for kind in during]
            try:
                wait_settled(endpoint)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{progress_report(endpoint, sim)}") from exc
            result = books(endpoint, kinds, sim.stats())
            record("worker_stuck", detected_seconds=round(detected, 1), resumed_seconds=round(resumed, 1), **result)
            assert result["problems"] == []
            assert worker_healthy(worker)
        finally:
            for process in processes:
                process.stop()


def archived(endpoint) -> int:
    return Job.objects.filter(endpoint=endpoint, archived=True).count()
