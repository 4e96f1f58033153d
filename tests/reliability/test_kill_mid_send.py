"""A worker SIGKILLed while its /run is on the wire: RunPod may have queued the job, and there is no call to ask, so
the job must not be sent again (it could run twice on a paid GPU). It must not sit PENDING for ever either: once
SEND_STUCK_SECONDS have passed it ends SUBMIT_FAILED with the reason, and the other jobs go on."""

import pytest

from jobs import services
from jobs.models import Job, JobStatus, StatusTransition
from tests.celery_worker import CeleryWorker
from tests.utils import wait_for

from .figures import record

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STUCK_SECONDS = 4
# The send must still be on the wire when the worker dies: RunPod answers slowly, and we wait for it.
WORKER_ENV = {"SEND_STUCK_SECONDS": str(STUCK_SECONDS), "RUNPOD_TIMEOUT_SECONDS": "30"}


def test_a_send_cut_off_by_a_killed_worker_fails_with_its_reason_and_is_never_resent(sim, sim_endpoint):
    """Claimed, killed mid-/run: never resent, SUBMIT_FAILED after SEND_STUCK_SECONDS; later jobs still go out."""
    worker = CeleryWorker(env=WORKER_ENV).start()
    replacement = None
    try:
        sim.configure(latency_ms=8_000)
        cut_off = services.job_submit(endpoint=sim_endpoint, input={"n": "cut off"})
        wait_for(
            lambda: Job.objects.filter(pk=cut_off.pk, submitted_at__isnull=False).exists(),
            timeout=30,
            message="the send claimed by the worker",
        )
        worker.kill()
        sim.configure(latency_ms=0)
        replacement = CeleryWorker(queue=worker.queue, env=WORKER_ENV).start()
        later = services.job_submit(endpoint=sim_endpoint, input={"n": "later"})

        wait_for(
            lambda: Job.objects.filter(pk=later.pk, archived=True).exists(),
            timeout=60,
            message="the job submitted after the kill archived",
        )
        wait_for(
            lambda: Job.objects.get(pk=cut_off.pk).status == JobStatus.SUBMIT_FAILED,
            timeout=60,
            message="the cut-off send marked failed",
        )
    finally:
        worker.kill()
        if replacement:
            replacement.stop()

    cut_off.refresh_from_db()
    assert cut_off.runpod_id is None
    assert "stopped while sending" in cut_off.submit_error and "RunPod may have it" in cut_off.submit_error
    assert StatusTransition.objects.filter(job=cut_off, to_status=JobStatus.SUBMIT_FAILED).count() == 1
    # Never sent twice: the later job's /run, and at most the cut-off one (the simulator counts a request when it
    # answers, and the cut-off one lost its caller during the wait). A resend would have given it an id above.
    stats = sim.stats()
    run_requests = stats["requests"].get(sim_endpoint.runpod_id, {}).get("run", 0)
    assert 1 <= run_requests <= 2, f"{run_requests} /run requests for two jobs"
    held_by_runpod = sum(stats["jobs"].get(sim_endpoint.runpod_id, {}).values())
    record(
        "kill_mid_send",
        send_stuck_seconds=STUCK_SECONDS,
        run_requests=run_requests,
        jobs_at_runpod=held_by_runpod,
        cut_off_status=cut_off.status,
        later_job_archived=True,
    )
