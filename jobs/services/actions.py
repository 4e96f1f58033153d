"""What people do to jobs and endpoints: submit, track, cancel, retry, run again, purge. Each is audited."""

import json
from urllib.parse import urlparse

from django.db import transaction
from django.utils import timezone

from jobs import runpod
from jobs.models import Endpoint, Job, JobStatus

from .audit import audit_record, audit_runpod_error
from .clients import client_for
from .enqueue import enqueue_on_commit
from .errors import ActionError, InputError, describe_error
from .ids import runpod_id_checked
from .state import job_transition, retry_fields
from .storable import storable_json

POLICY_LIMITS_MS = {
    # name: (smallest, largest), from runpod-api.md (Request options).
    "executionTimeout": (5_000, 7 * 24 * 3600 * 1000),
    "ttl": (10_000, 7 * 24 * 3600 * 1000),
}
S3_KEYS = {"accessId", "accessSecret", "bucketName", "endpointUrl"}


def endpoint_require_enabled(endpoint, consequence: str) -> None:
    """Disabled means nothing is sent to RunPod for this endpoint: every action on it is refused, with why."""
    if not endpoint.enabled:
        raise InputError(
            f"The endpoint {endpoint.name} is disabled, so {consequence}; an admin can enable it again.",
            field="endpoint",
        )


def _validate_policy(policy):
    if policy in (None, {}):
        return None
    if not isinstance(policy, dict):
        raise InputError("Policy must be a JSON object.", field="policy")
    unknown = set(policy) - {"executionTimeout", "ttl", "lowPriority"}
    if unknown:
        raise InputError(f"Unknown policy field(s): {', '.join(sorted(unknown))}.", field="policy")
    for name, (low, high) in POLICY_LIMITS_MS.items():
        value = policy.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(
                f"policy.{name} must be a whole number of milliseconds from {low:,} to {high:,}.",
                field=f"policy.{name}",
            )
    if "lowPriority" in policy and not isinstance(policy["lowPriority"], bool):
        raise InputError("policy.lowPriority must be true or false.", field="policy.lowPriority")
    return policy


def validate_webhook(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError("The webhook must be an http:// or https:// URL.", field="webhook")
    return url


def _validate_s3(s3_config):
    if not s3_config:
        return None
    if not isinstance(s3_config, dict) or not set(s3_config) >= S3_KEYS:
        raise InputError(f"s3Config needs {', '.join(sorted(S3_KEYS))}.", field="s3_config")
    return s3_config


def check_submission(*, input, mode="run", webhook="", policy=None, s3_config=None) -> dict:
    """Validate a submission; raise InputError with a message fit for the form. Returns the cleaned parts."""
    if mode not in Job.Mode.values:
        raise InputError("Mode must be run or runsync.", field="mode")
    if not isinstance(input, dict):
        raise InputError('The input must be a JSON object, like {"prompt": "..."}.', field="input")
    cleaned = {
        "input": input,
        "webhook": validate_webhook(webhook),
        "policy": _validate_policy(policy),
        "s3_config": _validate_s3(s3_config),
    }
    limit = runpod.RUNSYNC_MAX_BYTES if mode == Job.Mode.RUNSYNC else runpod.RUN_MAX_BYTES
    try:
        size = runpod.payload_size(
            runpod.submit_body(
                input, webhook=cleaned["webhook"], policy=cleaned["policy"], s3_config=cleaned["s3_config"]
            )
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"The input cannot be sent as JSON: {exc}", field="input") from exc
    if size > limit:
        raise InputError(
            f"The request is {size / 1_048_576:.1f} MB; RunPod accepts at most {limit // 1_048_576} MB for /{mode}.",
            field="input",
        )
    if storable_json(input) is not input:  # NaN and lone surrogates failed above; what is left is NUL
        raise InputError(
            "The input contains a NUL character (\\u0000), which cannot be stored: remove it.", field="input"
        )
    return cleaned


def job_submit(
    *,
    endpoint,
    input,
    mode="run",
    streaming=False,
    webhook="",
    policy=None,
    s3_config=None,
    user=None,
    remote_addr=None,
    parent=None,
) -> Job:
    """Record a new job and hand it to a worker to send.

    1. Validate everything (sizes included) before storing anything.
    2. Store the job as PENDING (with the job it is a new attempt of, if any) and audit the request, in one
       transaction; the audit says what the attempt changed from its parent.
    3. After commit, enqueue the send; the poll tick re-enqueues it if the broker lost it.
    """
    endpoint_require_enabled(endpoint, "nothing can be submitted to it")
    cleaned = check_submission(input=input, mode=mode, webhook=webhook, policy=policy, s3_config=s3_config)
    message = f"/{mode}{' (stream)' if streaming else ''} to {endpoint.name}"
    detail = None
    if parent is not None:
        edited = attempt_changes(parent, endpoint=endpoint, mode=mode, streaming=streaming, **cleaned)
        message += f", a new attempt of job {parent.pk}: " + (
            f"{', '.join(edited)} edited" if edited else "same input and options"
        )
        detail = {"parent": parent.pk, "edited": edited}
    return job_create(
        endpoint=endpoint,
        cleaned=cleaned,
        mode=mode,
        streaming=streaming,
        user=user,
        message=message,
        detail=detail,
        remote_addr=remote_addr,
        parent=parent,
    )


def job_create(
    *,
    endpoint,
    cleaned,
    mode,
    message,
    streaming=False,
    user=None,
    detail=None,
    remote_addr=None,
    parent=None,
    sent_by_caller=False,
) -> Job:
    """Store a checked submission (check_submission's result) as a PENDING job with its audit entry, in one
    transaction: the one place a new job is written, for the pages, the API and the RunPod-compatible proxy.

    A worker sends it, enqueued after commit; a caller that sends it itself (the proxy, which answers with
    RunPod's own reply) gets it already claimed for sending (submitted_at set), so no worker sends it too.
    """
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.create(
            endpoint=endpoint,
            mode=mode,
            streaming=streaming,
            status=JobStatus.PENDING,
            input=cleaned["input"],
            webhook=cleaned["webhook"],
            policy=cleaned["policy"],
            s3_config=json.dumps(cleaned["s3_config"]) if cleaned["s3_config"] else "",
            submitted_by=user if user is not None and user.is_authenticated else None,
            parent=parent,
            created_at=now,
            submitted_at=now if sent_by_caller else None,
        )
        audit_record(action="submit", user=user, job=job, message=message, detail=detail, remote_addr=remote_addr)
        if not sent_by_caller:
            enqueue_on_commit("send_job", job.pk, what="job")
    return job


def attempt_changes(parent, *, endpoint, mode, streaming, input, webhook, policy, s3_config) -> list[str]:
    """What a new attempt changes from the job it came from, by name, for the audit trail (never the values:
    s3Config holds secrets, and only whether it differs is said)."""
    previous_s3 = json.loads(parent.s3_config) if parent.s3_config else None
    compared = {
        "endpoint": (parent.endpoint_id, endpoint.pk),
        "mode": ((parent.mode, parent.streaming), (mode, streaming)),
        "input": (parent.input, input),
        "webhook": (parent.webhook, webhook),
        "policy": (parent.policy or None, policy),
        "s3Config": (previous_s3, s3_config),
    }
    return [name for name, (old, new) in compared.items() if old != new]


def job_track(*, endpoint, runpod_id, streaming=False, user=None, remote_addr=None) -> Job:
    """Follow a job submitted elsewhere (RunPod's console, a script) by its id."""
    runpod_id = runpod_id_checked(runpod_id)
    endpoint_require_enabled(endpoint, "no job on it can be tracked")
    now = timezone.now()
    with transaction.atomic():
        job, created = Job.objects.get_or_create(
            endpoint=endpoint,
            runpod_id=runpod_id,
            defaults={
                "tracked": True,
                "streaming": streaming,
                "status": JobStatus.IN_QUEUE,
                "submitted_by": user if user is not None and user.is_authenticated else None,
                "next_poll_at": now,
            },
        )
        audit_record(
            action="track",
            user=user,
            job=job,
            message=f"Tracking {runpod_id}" if created else f"{runpod_id} was already tracked",
            remote_addr=remote_addr,
        )
    return job


def _call(job_or_endpoint, action, fn, *, user, remote_addr, job=None):
    """Call RunPod for an action; on failure audit it and raise ActionError with a readable reason."""
    endpoint = job_or_endpoint if isinstance(job_or_endpoint, Endpoint) else job_or_endpoint.endpoint
    try:
        with client_for(endpoint) as client:
            return fn(client)
    except runpod.RunPodError as exc:
        message = describe_error(exc)
        entry = audit_runpod_error(
            action=action, exc=exc, message=message, user=user, endpoint=endpoint, job=job, remote_addr=remote_addr
        )
        raise ActionError(message, audit=entry) from exc


def job_cancel(*, job, user=None, remote_addr=None) -> Job:
    if not job.can_cancel:
        raise InputError(f"A {job.status} job cannot be cancelled.")
    endpoint_require_enabled(job.endpoint, "RunPod is not asked to cancel its jobs")
    state = _call(job, "cancel", lambda c: c.cancel(job.runpod_id), user=user, remote_addr=remote_addr, job=job)
    now = timezone.now()
    # Fetch the full status object next: cancel answers only id and status.
    job_transition(job, JobStatus.CANCELLED, source="cancel", now=now, next_poll_at=now)
    audit_record(
        action="cancel", user=user, job=job, message=f"RunPod answered {state.status}", remote_addr=remote_addr
    )
    return job


def job_retry(*, job, user=None, remote_addr=None) -> Job:
    if not job.can_retry:
        raise InputError(f"Only FAILED or TIMED_OUT jobs can be retried; this one is {job.status}.")
    endpoint_require_enabled(job.endpoint, "RunPod is not asked to retry its jobs")
    previous = {"status": job.status, "error": job.error_raw[:2000], "output": job.output}
    state = _call(job, "retry", lambda c: c.retry(job.runpod_id), user=user, remote_addr=remote_addr, job=job)
    now = timezone.now()
    job_transition(job, JobStatus.IN_QUEUE, source="retry", now=now, **retry_fields(now))
    audit_record(
        action="retry",
        user=user,
        job=job,
        message=f"RunPod answered {state.status}; the previous attempt is kept here",
        detail={"previous": previous},
        remote_addr=remote_addr,
    )
    return job


def job_run_again(*, job, user=None, remote_addr=None) -> Job:
    """A new job with the same input and options (s3Config included, never shown), recorded as an attempt of it."""
    return job_submit(
        endpoint=job.endpoint,
        input=job.input if isinstance(job.input, dict) else {},
        mode=job.mode,
        streaming=job.streaming,
        webhook=job.webhook,
        policy=job.policy,
        s3_config=json.loads(job.s3_config) if job.s3_config else None,
        user=user,
        remote_addr=remote_addr,
        # Another attempt of the same work: it joins the job's chain of attempts like an edited one.
        parent=job,
    )


def endpoint_purge_queue(*, endpoint, user=None, remote_addr=None) -> int:
    endpoint_require_enabled(endpoint, "RunPod is not asked to purge its queue")
    result = _call(endpoint, "purge", lambda c: c.purge_queue(), user=user, remote_addr=remote_addr)
    # Our queued jobs for this endpoint may be gone at RunPod: look at them now.
    Job.objects.filter(endpoint=endpoint, status=JobStatus.IN_QUEUE).update(next_poll_at=timezone.now())
    audit_record(
        action="purge",
        user=user,
        endpoint=endpoint,
        message=f"RunPod removed {result.removed} queued job(s)",
        detail={"removed": result.removed},
        remote_addr=remote_addr,
    )
    return result.removed
