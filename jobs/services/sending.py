"""Sending a PENDING job to RunPod (/run or /runsync), exactly once.

A /run that RunPod may have accepted is never sent again: only a request that provably never arrived
(connection refused, or a 429) goes back to PENDING for another try.
"""

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils import timezone

from jobs import runpod
from jobs.constants import RUNPOD_ID_MAX_LENGTH
from jobs.models import Job, JobStatus

from .audit import audit_runpod_error
from .clients import client_for
from .errors import describe_error
from .state import job_apply_state, job_transition
from .storable import write_through_outage

logger = logging.getLogger(__name__)

# A PENDING job nobody claimed this long after creation: its task was lost; send it again.
SEND_LOST_AFTER = timedelta(seconds=30)


class SendLater(Exception):
    """RunPod did not take the job and certainly did not queue it: try again later."""

    def __init__(self, countdown):
        super().__init__(f"retry in {countdown} s")
        self.countdown = countdown


def job_send(job_id) -> Job | None:
    """Send one PENDING job.

    1. Claim it (PENDING with no submitted_at) so no other worker sends it too.
    2. Call /run or /runsync with the stored body.
    3. Record the answer; a runsync answer with output is archived at once, an id is polled at once.
    """
    now = timezone.now()
    if not Job.objects.filter(pk=job_id, status=JobStatus.PENDING, submitted_at__isnull=True).update(submitted_at=now):
        return None
    job = Job.objects.select_related("endpoint").get(pk=job_id)
    try:
        state = _send(job)
    except runpod.RunPodError as exc:
        _send_failed(job, exc)
        return job
    if len(state.id) > RUNPOD_ID_MAX_LENGTH or "\x00" in state.id:
        unusable = runpod.BadResponseError("/run answered an id we cannot store", operation="run", body=state.id)
        _send_failed(job, unusable)
        return job
    return write_through_outage(lambda: _record_sent(job_id, state, now), f"the RunPod id of job {job_id}")


def _record_sent(job_id, state, now) -> Job:
    """RunPod's answer to a send, in one transaction on a fresh read of the job (so a retry starts clean)."""
    with transaction.atomic():
        job = Job.objects.select_related("endpoint").get(pk=job_id)
        job_transition(
            job, JobStatus.PENDING, source="submit", runpod_id=state.id, seen_at=timezone.now(), next_poll_at=now
        )
        job_apply_state(job, state, source="submit")
    return job


def _send(job):
    options = {
        "webhook": job.webhook or None,
        "policy": job.policy or None,
        "s3_config": json.loads(job.s3_config) if job.s3_config else None,
    }
    with client_for(job.endpoint, max_retries=2) as client:
        if job.mode == Job.Mode.RUNSYNC:
            return client.runsync(job.input, wait_ms=settings.RUNSYNC_WAIT_MS, **options)
        return client.run(job.input, **options)


def _never_arrived(exc) -> bool:
    return isinstance(exc, runpod.RateLimitedError) or getattr(exc, "request_sent", True) is False


def _send_failed(job, exc):
    if _never_arrived(exc):
        Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
            submitted_at=None, submit_error=describe_error(exc)
        )
        raise SendLater(int(getattr(exc, "retry_after", None) or 5)) from exc
    message = describe_error(exc)
    if isinstance(exc, runpod.TransientError):
        message += " RunPod may have queued it anyway, but gave no id: check the endpoint before resubmitting."
    job_transition(job, JobStatus.SUBMIT_FAILED, source="submit", submit_error=message, next_poll_at=None)
    audit_runpod_error(action="send", exc=exc, message=message, job=job, user=job.submitted_by)


def jobs_send_lost(now=None) -> list[int]:
    """PENDING jobs whose send task was lost (broker down); marks those whose worker died mid-send."""
    now = now or timezone.now()
    # Claimed for sending but still PENDING this long after: its worker died mid-send.
    stuck_since = now - timedelta(seconds=settings.SEND_STUCK_SECONDS)
    for job in Job.objects.filter(status=JobStatus.PENDING, submitted_at__lt=stuck_since):
        job_transition(
            job,
            JobStatus.SUBMIT_FAILED,
            source="submit",
            submit_error="The worker stopped while sending this job; RunPod may have it without our knowing its id.",
        )
    # A job may only be waiting in a long queue: re-send it at most once per lease (lease_until and lease_token are
    # unused while a job is PENDING), the lease as long as the job's age, so a backlog gets a few duplicates in
    # all rather than one per job per tick.
    waiting = Job.objects.filter(status=JobStatus.PENDING, submitted_at__isnull=True)
    waiting = waiting.filter(created_at__lt=now - SEND_LOST_AFTER)
    waiting = waiting.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    ids = list(waiting.values_list("pk", flat=True)[:500])
    token = uuid.uuid4().hex
    now_value = Value(now, output_field=DateTimeField())
    lease_end = ExpressionWrapper(now_value + (now_value - F("created_at")), output_field=DateTimeField())
    waiting.filter(pk__in=ids).update(lease_until=lease_end, lease_token=token)
    return list(Job.objects.filter(pk__in=ids, lease_token=token).values_list("pk", flat=True))
