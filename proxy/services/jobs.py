"""Reading and acting on jobs through the proxy: RunPod answers, and what it says is stored as the poller would.

Status answers are RunPod's while RunPod knows the job; once it has dropped one we recorded to the end, the
stored final status object is the answer instead of a 404, so a script that polls late still gets its output.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from jobs import runpod
from jobs.models import Job, JobStatus, StreamChunk, is_final
from jobs.runpod.calls import DEFAULT_WAIT_MS, WAIT_MIN_MS
from jobs.services import audit_record, describe_error
from jobs.services.polling import stream_store
from jobs.services.state import (
    job_apply_state,
    job_apply_stream_status,
    job_transition,
    normalise_status,
    retry_fields,
)
from proxy.errors import ProxyError

from .forward import budget_take, client_for, error_answer, wait_allowance

SOURCE = "proxy"


# Never needed to answer for a job, and inputs can be megabytes (s3_config would be decrypted for nothing).
UNUSED_COLUMNS = ("input", "s3_config", "progress")


_find_sql: dict = {}


def _job_find_sql() -> str:
    """The SELECT of job_find, compiled by the ORM once per database and process.

    Every proxied call reads one job by (endpoint, RunPod id); building that query through the ORM each time
    (the deferred columns above included) cost more CPU than running it. The SQL is the ORM's own, with the two
    values as parameters; (endpoint, runpod_id) is unique, so no ordering is needed.
    """
    key = (connection.alias, connection.vendor)
    if key not in _find_sql:
        query = Job.objects.filter(endpoint_id=0, runpod_id="").defer(*UNUSED_COLUMNS).order_by()[:1]
        _find_sql[key] = query.query.sql_with_params()[0]
    return _find_sql[key]


def job_find(endpoint, runpod_id: str) -> Job | None:
    # Columns left out of the SQL are deferred on the instance, as with .defer().
    job = next(iter(Job.objects.raw(_job_find_sql(), [endpoint.pk, runpod_id])), None)
    if job is not None:
        job.endpoint = endpoint  # the row we hold already: no second query (and no second decryption of its key)
    return job


def job_status_object(job: Job) -> dict:
    """The final status object we stored, as RunPod sent it when its status matches, else rebuilt from columns."""
    raw = job.last_raw if isinstance(job.last_raw, dict) and job.last_raw.get("status") == job.status else {}
    data = {**raw, "id": job.runpod_id, "status": job.status}
    for key, value in (("delayTime", job.delay_ms), ("executionTime", job.execution_ms)):
        if value is not None:
            data.setdefault(key, value)
    if job.has_output:
        data.setdefault("output", job.output)
    if job.error_raw:
        data.setdefault("error", job.error_raw)
    if job.worker_id:
        data.setdefault("workerId", job.worker_id)
    return data


def _archived(job: Job | None, exc: runpod.RunPodError) -> dict:
    """After a 404: the stored object of a job we followed to its end; anything else is RunPod's 404."""
    if isinstance(exc, runpod.NotFoundError) and job is not None and is_final(job.status) and job.runpod_id:
        return job_status_object(job)
    raise error_answer(exc)


def _store(job: Job | None, state) -> None:
    """Record a status object for a job we know, through the state machine; unchanged finished jobs are left be."""
    if job is None or (job.archived and normalise_status(state.status) == job.status):
        return
    job_apply_state(job, state, source=SOURCE)


def proxy_status(*, endpoint, job_id: str, ttl=None) -> dict:
    ttl_ms = _milliseconds(ttl, "ttl")
    budget_take(endpoint, "status")
    job = job_find(endpoint, job_id)
    try:
        state = client_for(endpoint).status(job_id, ttl_ms=ttl_ms)
    except runpod.RunPodError as exc:
        return _archived(job, exc)
    _store(job, state)
    return state.raw


def proxy_status_sync(*, endpoint, job_id: str, wait=None) -> dict:
    budget_take(endpoint, "status-sync")
    job = job_find(endpoint, job_id)
    if job is not None and job.archived:
        # Nothing left to wait for: RunPod would answer at once too.
        wait = WAIT_MIN_MS
    try:
        with wait_allowance(wait, DEFAULT_WAIT_MS) as wait_ms:
            state = client_for(endpoint).status_sync(job_id, wait_ms=wait_ms)
    except runpod.RunPodError as exc:
        return _archived(job, exc)
    _store(job, state)
    return state.raw


def proxy_cancel(*, endpoint, user, job_id: str, remote_addr=None) -> dict:
    budget_take(endpoint, "cancel")
    job = job_find(endpoint, job_id)
    try:
        state = client_for(endpoint).cancel(job_id)
    except runpod.RunPodError as exc:
        _audit_error("cancel", endpoint, job, user, exc, remote_addr)
        raise error_answer(exc) from None
    if job is not None and normalise_status(state.status) == "CANCELLED" and not is_final(job.status):
        now = timezone.now()
        # Fetch the full status object next: cancel answers only id and status.
        job_transition(job, JobStatus.CANCELLED, source="cancel", now=now, next_poll_at=now, stream_reader_until=None)
    audit_record(
        action="cancel",
        user=user,
        endpoint=endpoint,
        job=job,
        message=f"{job_id}: RunPod answered {state.status} (through the RunPod-compatible API)",
        detail={"via": "proxy"},
        remote_addr=remote_addr,
    )
    return state.raw


def proxy_retry(*, endpoint, user, job_id: str, remote_addr=None) -> dict:
    budget_take(endpoint, "retry")
    job = job_find(endpoint, job_id)
    try:
        state = client_for(endpoint).retry(job_id)
    except runpod.RunPodError as exc:
        _audit_error("retry", endpoint, job, user, exc, remote_addr)
        raise error_answer(exc) from None
    detail = {"via": "proxy"}
    if job is not None and normalise_status(state.status) == "IN_QUEUE":
        detail["previous"] = {"status": job.status, "error": job.error_raw[:2000], "output": job.output}
        _job_requeued(job)
    audit_record(
        action="retry",
        user=user,
        endpoint=endpoint,
        job=job,
        message=f"{job_id}: RunPod answered {state.status}; the previous attempt is kept here",
        detail=detail,
        remote_addr=remote_addr,
    )
    return state.raw


def _job_requeued(job: Job) -> None:
    """What a retry does to our record: the same fields the Retry button resets."""
    now = timezone.now()
    job_transition(job, JobStatus.IN_QUEUE, source="retry", now=now, **retry_fields(now))


def proxy_health(*, endpoint) -> dict:
    budget_take(endpoint, "health")
    try:
        return client_for(endpoint).health().raw
    except runpod.RunPodError as exc:
        raise error_answer(exc) from None


def proxy_purge(*, endpoint, user, remote_addr=None) -> dict:
    budget_take(endpoint, "purge-queue")
    try:
        result = client_for(endpoint).purge_queue()
    except runpod.RunPodError as exc:
        _audit_error("purge", endpoint, None, user, exc, remote_addr)
        raise error_answer(exc) from None
    # Our queued jobs for this endpoint may be gone at RunPod: look at them now.
    Job.objects.filter(endpoint=endpoint, status=JobStatus.IN_QUEUE).update(next_poll_at=timezone.now())
    audit_record(
        action="purge",
        user=user,
        endpoint=endpoint,
        message=f"RunPod removed {result.removed} queued job(s) (through the RunPod-compatible API)",
        detail={"removed": result.removed, "via": "proxy"},
        remote_addr=remote_addr,
    )
    return result.raw


def _audit_error(action, endpoint, job, user, exc, remote_addr) -> None:
    audit_record(
        action=action,
        user=user,
        endpoint=endpoint,
        job=job,
        outcome="error",
        message=describe_error(exc),
        detail={"status_code": exc.status_code, "body": (exc.body or "")[:2000], "via": "proxy"},
        remote_addr=remote_addr,
    )


def _milliseconds(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return max(0, int(float(value)))
    except ValueError:
        raise ProxyError(400, f"{name} must be milliseconds") from None


# --- Streams ---------------------------------------------------------------------------------------------------


def proxy_stream(*, endpoint, job_id: str, wait=None) -> dict:
    """Drain the job's stream for the caller, storing every chunk before it is handed over.

    1. Hold the job's stream for this caller (the poller keeps off /stream until the hold runs out).
    2. If chunks the caller has not had are stored already (the poller drained them before the caller came),
       answer with them at once; else drain RunPod's stream, waiting as RunPod would.
    3. Store the drained chunks and the status, then hand the caller every chunk it has not had, in order:
       each chunk is claimed for delivery once, so two callers of the same stream never both get it.
    """
    budget_take(endpoint, "stream")
    job = job_find(endpoint, job_id)
    if job is None:
        return _stream_unrecorded(endpoint, job_id, wait)
    _reader_hold(job)
    if job.stream_seq > job.stream_served_seq:
        return _stream_answer(job, {"id": job.runpod_id, "status": job.status})
    try:
        with wait_allowance(wait, WAIT_MIN_MS) as wait_ms:
            batch = client_for(endpoint).stream(job_id, wait_ms=wait_ms)
    except runpod.RunPodError as exc:
        if isinstance(exc, runpod.NotFoundError) and is_final(job.status):
            return _stream_answer(job, {"id": job.runpod_id, "status": job.status})
        raise error_answer(exc) from None
    now = timezone.now()
    stream_store(job, batch.chunks, now=now)
    _stream_status(job, batch, now)
    return _stream_answer(job, batch.raw)


def _stream_unrecorded(endpoint, job_id, wait) -> dict:
    """A job submitted elsewhere: RunPod's answer, passed through."""
    try:
        with wait_allowance(wait, WAIT_MIN_MS) as wait_ms:
            return client_for(endpoint).stream(job_id, wait_ms=wait_ms).raw
    except runpod.RunPodError as exc:
        raise error_answer(exc) from None


def _reader_hold(job: Job) -> None:
    if is_final(job.status):
        return
    until = timezone.now() + timedelta(seconds=settings.PROXY_STREAM_LEASE_SECONDS)
    Job.objects.filter(pk=job.pk).update(streaming=True, stream_reader_until=until)
    job.streaming, job.stream_reader_until = True, until


def _stream_status(job: Job, batch, now) -> None:
    """The status a /stream answer reported; once final, the hold ends and the poller fetches the full object."""
    job_apply_stream_status(job, batch.status, now=now)
    if is_final(job.status) and job.stream_reader_until is not None:
        Job.objects.filter(pk=job.pk).update(stream_reader_until=None)
        job.stream_reader_until = None


def _stream_answer(job: Job, raw: dict) -> dict:
    """RunPod's answer with `stream` holding every stored chunk this job's callers have not had yet."""
    with transaction.atomic():
        rows = Job.objects.select_for_update().values_list("stream_served_seq", "stream_seq")
        first, end = rows.order_by().get(pk=job.pk)
        if end <= first:  # nothing stored that this job's callers have not had
            return {**raw, "stream": []}
        Job.objects.filter(pk=job.pk).update(stream_served_seq=end)
    outputs = StreamChunk.objects.filter(job=job, seq__gte=first, seq__lt=end).order_by("seq")
    return {**raw, "stream": [{"output": output} for output in outputs.values_list("output", flat=True)]}
