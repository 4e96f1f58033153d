"""After RunPod's faults stop, the poller is back to its normal pace within one cycle: errors may push a job's next
poll back, but never past the poll it would have had anyway."""

import time

import pytest
from django.utils import timezone

from jobs import runpod, services
from jobs.models import Job
from jobs.services import polling
from tests.factories import make_endpoint, make_job
from tests.utils import wait_for

from .runs import overdue
from .servers import RecordingSimulator

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", ["IN_QUEUE", "IN_PROGRESS"])
@pytest.mark.parametrize("failures", [0, 3, 10, 50])
def test_an_error_never_pushes_a_job_past_its_usual_next_poll(status, failures):
    """However many errors in a row, the next poll comes no later than it would without them."""
    endpoint = make_endpoint(poll_running_seconds=2.0, poll_queued_seconds=3.0)
    now = timezone.now()
    jobs = [make_job(endpoint, status=status, poll_failures=failures, next_poll_at=now) for _ in range(20)]
    polling.batch_store(jobs, [runpod.TransientError("503", status_code=503)] * len(jobs), now=now)
    assert overdue(endpoint, now) == []
    assert all(job.next_poll_at > now for job in Job.objects.filter(endpoint=endpoint))


@pytest.mark.django_db(transaction=True)
def test_polling_is_back_to_normal_one_cycle_after_an_outage():
    """A minute's worth of 5xx, then none: one round later every job is polled on its usual schedule."""
    with RecordingSimulator(seed=5, endpoints=[]) as sim:
        sim.add_endpoint("flaky", min_workers=2, max_workers=2, cold_start=0, job_seconds=[30, 30])
        endpoint = make_endpoint(name="flaky", runpod_id="flaky", base_url=sim.base_url, api_key="k")
        sim.configure(rate_limits=False)
        jobs = [services.job_submit(endpoint=endpoint, input={"n": i}) for i in range(30)]
        for job in jobs:
            services.job_send(job.pk)
        sim.configure(error_rate=1.0)
        for _ in range(8):  # failures pile up on every job
            Job.objects.filter(endpoint=endpoint).update(next_poll_at=timezone.now())
            polling.poll_round([endpoint.pk], budget_seconds=0.3)
        assert Job.objects.filter(endpoint=endpoint, poll_failures__gte=5).count() == len(jobs)
        sim.configure(error_rate=0)
        stopped = time.monotonic()

        def caught_up():
            polling.poll_round([endpoint.pk], budget_seconds=0.3)
            return not Job.objects.filter(endpoint=endpoint, poll_failures__gt=0).exists()

        wait_for(caught_up, timeout=30, interval=0.1, message="every job polled again")
        assert time.monotonic() - stopped <= endpoint.poll_running_seconds + 1.0
