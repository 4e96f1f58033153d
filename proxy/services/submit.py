"""/run and /runsync through the proxy: checked like the submit form, recorded, sent, and stored before answering."""

import json

from django.db import IntegrityError
from django.utils import timezone

from jobs import runpod
from jobs.models import Job, JobStatus
from jobs.runpod.calls import DEFAULT_WAIT_MS
from jobs.services import InputError, audit_record, check_submission, describe_error, job_create
from jobs.services.state import job_transition, state_fields
from proxy.errors import ProxyError

from .forward import budget_take, client_for, error_answer, wait_allowance

RUNPOD_ID_MAX_LENGTH = 200
SIZE_LIMITS = {"run": runpod.RUN_MAX_BYTES, "runsync": runpod.RUNSYNC_MAX_BYTES}


def body_parse(raw: bytes, mode: str) -> dict:
    """The request body as RunPod reads it: at most 10 MB (/run) or 20 MB (/runsync), a JSON object with an input."""
    limit = SIZE_LIMITS[mode]
    if len(raw) > limit:
        raise ProxyError(413, f"payload too large: {len(raw)} bytes, the limit is {limit}")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise ProxyError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or "input" not in body:
        raise ProxyError(400, 'the body must be a JSON object with an "input"')
    return body


def proxy_submit(*, endpoint, user, raw: bytes, mode: str, wait=None, remote_addr=None) -> dict:
    """Submit a caller's job; returns RunPod's answer.

    1. Parse and validate it exactly as the submit form does; refusals store nothing.
    2. Count it against the endpoint's /run (or /runsync) budget.
    3. Record it as PENDING and already claimed (no worker sends it), with its audit entry, in one transaction.
    4. Send it with the endpoint's key; store RunPod's answer (a finished /runsync result included) and only
       then answer the caller. A refusal by RunPod leaves the job SUBMIT_FAILED with the reason, as on the pages.
    """
    body = body_parse(raw, mode)
    try:
        cleaned = check_submission(
            input=body["input"],
            mode=mode,
            webhook=body.get("webhook") or "",
            policy=body.get("policy"),
            s3_config=body.get("s3Config"),
        )
    except InputError as exc:
        raise ProxyError(400, str(exc)) from None
    budget_take(endpoint, mode)
    job = job_create(
        endpoint=endpoint,
        cleaned=cleaned,
        mode=mode,
        user=user,
        message=f"/{mode} to {endpoint.name} through the RunPod-compatible API",
        detail={"via": "proxy"},
        remote_addr=remote_addr,
        sent_by_caller=True,
    )
    options = {"webhook": cleaned["webhook"] or None, "policy": cleaned["policy"], "s3_config": cleaned["s3_config"]}
    try:
        client = client_for(endpoint)
        if mode == Job.Mode.RUNSYNC:
            with wait_allowance(wait, DEFAULT_WAIT_MS) as wait_ms:
                state = client.runsync(cleaned["input"], wait_ms=wait_ms, **options)
        else:
            state = client.run(cleaned["input"], **options)
    except runpod.RunPodError as exc:
        _send_failed(job, user, describe_error(exc), exc)
        raise error_answer(exc) from None
    if len(state.id) > RUNPOD_ID_MAX_LENGTH or "\x00" in state.id:
        _send_failed(job, user, "RunPod answered an id that cannot be stored.", None)
        raise ProxyError(502, "RunPod answered an unusable job id")
    _record_sent(job, state, user)
    return state.raw


def _record_sent(job, state, user) -> None:
    """RunPod's id and answer in one conditional write (PENDING to RunPod's status), with its transition."""
    now = timezone.now()
    fields = {"seen_at": now, **state_fields(job, state, now=now), "runpod_id": state.id}
    try:
        # job_transition's own transaction rolls the write back if the id is taken: no savepoint of ours around it.
        job_transition(job, fields.pop("status"), source="submit", now=now, **fields)
    except IntegrityError:
        # RunPod gave an id this endpoint already has (a job tracked by id before): keep that record.
        _send_failed(job, user, f"RunPod answered id {state.id}, which is already recorded here.", None)


def _send_failed(job, user, message, exc) -> None:
    job_transition(job, JobStatus.SUBMIT_FAILED, source="submit", submit_error=message, next_poll_at=None)
    detail = {"via": "proxy"}
    if exc is not None:
        detail.update(status_code=exc.status_code, body=(exc.body or "")[:2000])
    audit_record(action="send", job=job, user=user, outcome="error", message=message, detail=detail)
