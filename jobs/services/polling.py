"""Following jobs to the end: claim due jobs, poll /status or /stream concurrently, store the answers.

How several workers share the work without polling a job twice:
- an endpoint is held by one poller at a time, and its status calls are counted against a budget every worker
  shares (both in services/endpoints.py);
- each due job is claimed with a lease before it is polled, so a job is never in two batches at once, and a
  killed worker's jobs come back when their lease runs out;
- answers are written through services/state.py, conditionally on the status we read, and stream chunks are
  unique per (job, seq).
"""

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from jobs import runpod
from jobs.constants import EXPIRED, NOT_FOUND, is_final
from jobs.models import Endpoint, Job, StreamChunk

from .clients import async_client_for
from .endpoints import (
    StopReason,
    endpoint_acquire,
    endpoint_flag,
    endpoint_mark_ok,
    endpoint_release,
    endpoint_renew,
    endpoints_pollable,
    status_budget,
    status_reserve,
)
from .state import job_apply_stream_status, job_transition, jobs_apply_states
from .storable import storable_json, write_through_outage

logger = logging.getLogger(__name__)

# Errors on one job push its next poll back, but never past this: a runsync result lives only 60 s.
ERROR_BACKOFF_MAX = 20.0
RUNSYNC_ERROR_BACKOFF_MAX = 2.0


# --- Claiming due jobs ----------------------------------------------------------------------------------------

# Columns polling never reads: inputs and outputs can be megabytes, and s3_config would be decrypted per job.
POLL_UNUSED_COLUMNS = ("input", "output", "progress", "last_raw", "error", "error_raw", "s3_config", "submit_error")


def jobs_claim_due(endpoint, *, limit, lease_seconds, now=None) -> list[Job]:
    """Lease up to `limit` due jobs, those nearest to losing their result first."""
    if limit <= 0:
        return []
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = (
        Job.objects.filter(endpoint=endpoint, next_poll_at__lte=now)
        .filter(free)
        # A proxy caller is reading this job's stream: a second reader would take chunks from it.
        .exclude(streaming=True, stream_reader_until__gt=now)
        .annotate(
            urgency=Case(When(mode=Job.Mode.RUNSYNC, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("urgency", "next_poll_at")
        .values_list("pk", flat=True)[:limit]
    )
    token = uuid.uuid4().hex
    ids = list(due)
    Job.objects.filter(pk__in=ids).filter(free).update(
        lease_until=now + timedelta(seconds=lease_seconds), lease_token=token
    )
    jobs = list(Job.objects.filter(pk__in=ids, lease_token=token).defer(*POLL_UNUSED_COLUMNS))
    for job in jobs:
        # The row we hold already: a join would decrypt the endpoint's API key once per job.
        job.endpoint = endpoint
    return jobs


# --- Storing answers ------------------------------------------------------------------------------------------


@dataclass
class PollOutcome:
    """What one batch did, for logs, the endpoint's flags and the tests."""

    polled: int = 0
    changed: int = 0
    chunks: int = 0
    errors: int = 0
    expired: int = 0
    stop: StopReason | None = None  # set when the answers stop the endpoint's loop (AUTH or RATE)
    retry_after: float | None = None
    errors_by_kind: dict = field(default_factory=dict)


def stream_store(job: Job, chunks, *, now) -> int:
    """Store drained chunks with the next sequence numbers, under a row lock so concurrent drains never collide."""
    if not chunks:
        return 0

    def write():
        with transaction.atomic():
            seq = Job.objects.select_for_update().values_list("stream_seq", flat=True).get(pk=job.pk)
            StreamChunk.objects.bulk_create(
                [
                    StreamChunk(job=job, seq=seq + i, output=storable_json(chunk), received_at=now)
                    for i, chunk in enumerate(chunks)
                ]
            )
            Job.objects.filter(pk=job.pk).update(stream_seq=seq + len(chunks))
        return seq

    # Drained chunks exist nowhere else any more: keep trying through a brief database outage.
    seq = write_through_outage(write, f"stream chunks of job {job.pk}")
    job.stream_seq = seq + len(chunks)
    return len(chunks)


def _store_stream_batch(job, batch, now) -> bool:
    """A /stream answer: chunks first (they are gone from RunPod now), then the status it reported."""
    stream_store(job, batch.chunks, now=now)
    return job_apply_stream_status(job, batch.status, now=now)


def _store_error(job, exc, now, outcome: PollOutcome) -> None:
    kind = type(exc).__name__
    outcome.errors += 1
    outcome.errors_by_kind[kind] = outcome.errors_by_kind.get(kind, 0) + 1
    if isinstance(exc, runpod.NotFoundError):
        _store_not_found(job, now, outcome)
        return
    # Back off this job a little, with jitter, but come back well inside its retention (60 s for runsync).
    cap = RUNSYNC_ERROR_BACKOFF_MAX if job.mode == Job.Mode.RUNSYNC else ERROR_BACKOFF_MAX
    delay = min(cap, 0.5 * 2 ** min(job.poll_failures, 6)) * (0.5 + random.random() / 2)
    Job.objects.filter(pk=job.pk).update(
        poll_failures=job.poll_failures + 1,
        next_poll_at=now + timedelta(seconds=delay),
        lease_until=None,
        lease_token="",
    )


def _store_not_found(job, now, outcome):
    """404: a job RunPod had answered for before has expired; one it never knew is unknown."""
    fields = {"next_poll_at": None, "lease_until": None, "lease_token": "", "last_polled_at": now}
    if job.seen_at is not None:
        fields["expired"] = True
        outcome.expired += 1
    else:
        fields["not_found"] = True
    job_transition(job, EXPIRED if job.seen_at else NOT_FOUND, source="poll", now=now, **fields)


def batch_store(jobs, answers, *, now=None) -> PollOutcome:
    """Write one batch of answers (JobState, StreamBatch or RunPodError per job)."""
    now = now or timezone.now()
    outcome = PollOutcome()
    states = []
    for job, answer in zip(jobs, answers, strict=True):
        outcome.polled += 1
        stop = StopReason.for_error(answer)
        if stop:
            # The endpoint's problem, not the job's: put the job back untouched and stop the endpoint's loop.
            _release(job, now)
            outcome.errors += 1
            outcome.stop = outcome.stop or stop
            if isinstance(answer, runpod.RateLimitedError):
                outcome.retry_after = answer.retry_after
        elif isinstance(answer, runpod.RunPodError):
            _store_error(job, answer, now, outcome)
        elif isinstance(answer, runpod.StreamBatch):
            outcome.chunks += len(answer.chunks)
            outcome.changed += _store_stream_batch(job, answer, now)
        else:
            states.append((job, answer, job.status))
    # Status objects, the bulk of every batch, are written together.
    applied = jobs_apply_states([(job, answer) for job, answer, _ in states], source="poll", now=now)
    outcome.changed += sum(ok and job.status != old for ok, (job, _, old) in zip(applied, states, strict=True))
    return outcome


def batch_release(jobs, *, now=None) -> None:
    now = now or timezone.now()
    for job in jobs:
        _release(job, now)


def _release(job, now):
    Job.objects.filter(pk=job.pk).update(lease_until=None, lease_token="", next_poll_at=now + timedelta(seconds=2))


# --- One endpoint's loop, and a round over several endpoints ---------------------------------------------------


async def _fetch(client, job):
    try:
        if job.streaming and not is_final(job.status):
            return await client.stream(job.runpod_id, wait_ms=settings.STREAM_WAIT_MS)
        return await client.status(job.runpod_id)
    except runpod.RunPodError as exc:
        return exc
    except Exception as exc:  # an unexpected bug must not lose the batch: treat it as transient
        logger.exception("unexpected error polling job %s", job.pk)
        return runpod.TransientError(str(exc), operation="status")


@dataclass
class EndpointRun:
    endpoint: Endpoint
    token: str
    polled: int = 0
    chunks: int = 0
    batches: int = 0
    stop: StopReason | None = None


async def endpoint_poll_loop(run: EndpointRun, http, limiter, *, deadline: float) -> EndpointRun:
    """Poll one held endpoint until nothing is due, its budget is spent, or the round's time is up."""
    endpoint = run.endpoint
    client = async_client_for(endpoint, http, limiter)
    if limiter.enabled:
        # RunPod raises an endpoint's limit with its running workers; the limit an admin recorded for it binds this
        # process's client too, not only the shared budget.
        limiter.set_limit(client.endpoint_key, "status", endpoint.status_rate_per_10s, endpoint.status_concurrency)
    concurrency = max(1, min(settings.POLL_CONCURRENCY, endpoint.status_concurrency))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job):
        async with semaphore:
            answer = await _fetch(client, job)
        if isinstance(answer, runpod.StreamBatch) and answer.chunks:
            # RunPod forgets chunks once read: store them now, not when the slowest call of the batch is back.
            await sync_to_async(stream_store)(job, answer.chunks, now=timezone.now())
            run.chunks += len(answer.chunks)
            answer = replace(answer, chunks=())
        return answer

    await sync_to_async(close_old_connections)()
    while time.monotonic() < deadline:
        budget = await sync_to_async(status_budget)(endpoint)
        limit = min(settings.POLL_BATCH_SIZE, budget)
        jobs = await sync_to_async(jobs_claim_due)(endpoint, limit=limit, lease_seconds=settings.POLL_LEASE_SECONDS)
        if not jobs:
            if budget <= 0:
                run.stop = StopReason.BUDGET
            break
        await sync_to_async(status_reserve)(endpoint, run.token, len(jobs))
        answers = await asyncio.gather(*(one(job) for job in jobs))
        if await _endpoint_missing(client, jobs, answers):
            # Every job 404s at once and /health 404s too: the endpoint id is wrong, the jobs have not expired.
            await sync_to_async(batch_release)(jobs)
            await sync_to_async(endpoint_flag)(endpoint, StopReason.MISSING)
            run.stop = StopReason.MISSING
            break
        outcome = await sync_to_async(batch_store)(jobs, answers)
        run.polled += outcome.polled
        run.chunks += outcome.chunks
        run.batches += 1
        if outcome.stop:
            run.stop = outcome.stop
            await sync_to_async(endpoint_flag)(endpoint, outcome.stop, retry_after=outcome.retry_after)
            break
        await sync_to_async(endpoint_mark_ok)(endpoint)
        await sync_to_async(endpoint_renew)(endpoint.pk, run.token, seconds=settings.POLL_LEASE_SECONDS)
    return run


async def _endpoint_missing(client, jobs, answers) -> bool:
    if not answers or not all(isinstance(a, runpod.NotFoundError) for a in answers):
        return False
    try:
        await client.health()
    except runpod.NotFoundError:
        return True
    except runpod.RunPodError:
        return False
    return False


def poll_round(
    endpoint_ids=None, *, limit_endpoints=None, budget_seconds=None, http=None, limiter=None
) -> list[EndpointRun]:
    """Hold free pollable endpoints (of those given, at most limit_endpoints) and poll them in one event loop.

    Rounds that overlap, in this worker or others, take disjoint endpoints; an endpoint nobody holds is taken
    by the next tick.
    """
    budget_seconds = budget_seconds if budget_seconds is not None else settings.POLL_TASK_BUDGET_SECONDS
    # Renewed after every batch, so a dead worker's endpoints come back within one lease.
    lease = settings.POLL_LEASE_SECONDS
    endpoints = endpoints_pollable()
    if endpoint_ids is not None:
        endpoints = endpoints.filter(pk__in=endpoint_ids)
    runs = []
    for endpoint in endpoints.filter(Q(poll_lock_until__isnull=True) | Q(poll_lock_until__lt=timezone.now())):
        if limit_endpoints and len(runs) >= limit_endpoints:
            break
        token = endpoint_acquire(endpoint.pk, seconds=lease)
        if token:
            endpoint.refresh_from_db()
            runs.append(EndpointRun(endpoint=endpoint, token=token))
    if not runs:
        return []
    try:
        return asyncio.run(_round(runs, http, limiter, time.monotonic() + budget_seconds))
    finally:
        close_old_connections()
        for run in runs:
            endpoint_release(run.endpoint.pk, run.token)


async def _round(runs, http, limiter, deadline):
    own_http = http is None
    http = http or runpod.make_async_http(max_connections=max(settings.POLL_CONCURRENCY * len(runs), 100))
    limiter = limiter or runpod.default_limiter()
    try:
        return await asyncio.gather(*(endpoint_poll_loop(run, http, limiter, deadline=deadline) for run in runs))
    finally:
        if own_http:
            await http.aclose()
