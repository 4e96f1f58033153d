"""Jobs we are told about: RunPod POSTs the status object to a job's webhook when it ends.

Jobs submitted elsewhere (scripts, RunPod's console) can name the endpoint's webhook URL here, and the
dashboard records them, output included, without ever having seen their id. RunPod documents no signature,
so the URL itself carries a secret token derived from SECRET_KEY.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.runpod import RunPodError
from jobs.runpod.results import parse_job_state

from .audit import audit_record
from .errors import InputError
from .ids import runpod_id_checked
from .state import job_apply_state


class WebhookError(ValueError):
    """The payload is not a status object we can record."""


def webhook_token(endpoint) -> str:
    message = f"runpod-webhook:{endpoint.pk}:{endpoint.runpod_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:40]


def webhook_token_valid(endpoint, token: str) -> bool:
    return hmac.compare_digest(webhook_token(endpoint), token or "")


def webhook_path(endpoint) -> str:
    return reverse("runpod_webhook", args=[endpoint.pk, webhook_token(endpoint)])


def webhook_receive(*, endpoint, payload) -> Job:
    """Record a webhook's status object: a new job is created as tracked, a known one gets the final state.

    RunPod retries a webhook twice; a repeat finds the job already in that state and changes nothing.
    """
    try:
        state = parse_job_state(payload, operation="webhook")
    except RunPodError as exc:
        raise WebhookError("expected a RunPod status object with an id and a status") from exc
    try:
        # The same check as tracking: an id no URL of ours could poll is refused, not stored.
        if runpod_id_checked(state.id) != state.id:
            raise InputError("A RunPod job id has no surrounding whitespace.")
    except InputError as exc:
        raise WebhookError(str(exc)) from exc
    with transaction.atomic():
        job, created = Job.objects.get_or_create(
            endpoint=endpoint,
            runpod_id=state.id,
            defaults={
                "tracked": True,
                "status": JobStatus.IN_QUEUE,
                "input": payload.get("input") if isinstance(payload.get("input"), dict) else None,
            },
        )
        job = Job.objects.select_for_update().select_related("endpoint").get(pk=job.pk)
        before = job.status
        if not job.archived:
            job_apply_state(job, state, source="webhook")
        if created or job.status != before:
            # RunPod's retries of the same report change nothing and add no entry.
            audit_record(
                action="webhook",
                job=job,
                message=f"RunPod reported {state.id} {job.status}" + (" (a job new to us)" if created else ""),
            )
    return job
