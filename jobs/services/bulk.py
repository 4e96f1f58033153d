"""Bulk actions: cancel, retry, run again or stop tracking every job a jobs-list filter matches.

A batch fixes its jobs when it starts (one BulkItem each) and a background task works through them, one at a time,
inside each endpoint's rate budget. Each item is claimed with a conditional UPDATE before it is acted on, and the
budget is counted from the claim times stored on the items, so a worker that dies, or a task that hands the batch
on, never acts on a job twice nor lets the next task overrun RunPod's limit.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.constants import CANCELLABLE_STATES, RETRYABLE_STATES, is_final
from jobs.models import (
    AuditEntry,
    BulkAction,
    BulkItem,
    Job,
    JobStatus,
    StatusTransition,
)
from jobs.runpod.limiter import DEFAULT_LIMITS, WINDOW_SECONDS
from jobs.selectors.bulk import bulk_groups, bulk_job_ids

from .actions import job_cancel, job_retry, job_run_again
from .audit import audit_record
from .clients import shared_pool
from .enqueue import enqueue_on_commit
from .errors import ActionError, InputError
from .tracking import job_stop_tracking

logger = logging.getLogger(__name__)

Kind = BulkAction.Kind
Item = BulkItem.State
# How long a batch enqueued by the poll tick may wait in the broker before the tick enqueues it again (a second
# message is harmless: the lease decides who works).
KICK_SECONDS = 15


def lease_seconds() -> float:
    """Longer than one rate window, so a worker that died with calls in the window is past them when the next
    starts; and longer than one call with its retries, so a slow call never loses the batch to another task."""
    return max(WINDOW_SECONDS + 2, 3 * settings.RUNPOD_TIMEOUT_SECONDS + 5)


# The RunPod limit each kind's calls count against (None: no RunPod call here; run again's sends are paced by the
# send path like any submission).
RATE_BUCKETS = {Kind.CANCEL: "cancel", Kind.RETRY: "retry", Kind.RUN_AGAIN: None, Kind.STOP_TRACKING: None}
WHAT_HAPPENS = {
    Kind.CANCEL: "cancelled at RunPod (/cancel)",
    Kind.RETRY: "sent back to the queue (/retry)",
    Kind.RUN_AGAIN: "a new job with the same input and options",
    Kind.STOP_TRACKING: "no longer polled; its history stays here",
}


class ConfirmError(InputError):
    """The typed confirmation is missing or does not match the number of jobs."""

    def __init__(self, message, *, count):
        super().__init__(message)
        self.count = count


@dataclass(frozen=True)
class Decision:
    act: bool
    reason: str  # what will happen, or why the job is skipped


def bulk_decide(kind, *, status, sent, expired=False, polled=False, has_input=True) -> Decision:
    """What an action does to a job in this state; the dry run and the worker ask the same question."""
    if kind == Kind.CANCEL:
        if sent and status in CANCELLABLE_STATES:
            return Decision(True, WHAT_HAPPENS[kind])
        if status == JobStatus.PENDING:
            return Decision(False, "not sent to RunPod yet")
        if is_final(status):
            return Decision(False, f"already finished ({status})")
        return Decision(False, f"a {status} job cannot be cancelled")
    if kind == Kind.RETRY:
        if status not in RETRYABLE_STATES or not sent:
            return Decision(False, "only FAILED or TIMED_OUT jobs can be retried")
        if expired:
            return Decision(False, "RunPod no longer has it (expired)")
        return Decision(True, WHAT_HAPPENS[kind])
    if kind == Kind.RUN_AGAIN:
        if not has_input:
            return Decision(False, "no input stored here (tracked by id)")
        return Decision(True, WHAT_HAPPENS[kind])
    if kind == Kind.STOP_TRACKING:
        if status == JobStatus.PENDING:
            return Decision(False, "not sent to RunPod yet: cancel it instead")
        if not polled:
            return Decision(False, "nothing left to fetch")
        return Decision(True, WHAT_HAPPENS[kind])
    raise ValueError(f"unknown bulk action {kind!r}")


# What _decide_job reads, refreshed just before acting; and what a batch never reads (megabytes, perhaps).
DECIDING_COLUMNS = ["status", "runpod_id", "expired", "next_poll_at", "tracking_stopped_at"]
UNREAD_JOB_COLUMNS = ("output", "progress", "last_raw", "error", "error_raw")


def _decide_job(kind, job: Job) -> Decision:
    return bulk_decide(
        kind,
        status=job.status,
        sent=job.runpod_id is not None,
        expired=job.expired,
        polled=job.next_poll_at is not None and job.tracking_stopped_at is None,
        has_input=job.input is not None,
    )


# --- The dry run ----------------------------------------------------------------------------------------------


@dataclass
class BulkPreview:
    kind: str
    total: int = 0
    acted: int = 0
    endpoints: list = field(default_factory=list)  # (name, jobs, jobs acted on), most jobs first
    outcomes: list = field(default_factory=list)  # (will act, reason, statuses, count), acted on first

    @property
    def skipped(self) -> int:
        return self.total - self.acted


def bulk_preview(*, kind, filters) -> BulkPreview:
    """How many jobs the filter matches, on which endpoints, and what the action will do to each kind of job."""
    preview = BulkPreview(kind=kind)
    per_endpoint: dict[str, list[int]] = {}
    outcomes: dict[tuple[bool, str], list] = {}
    for group in bulk_groups(filters):
        decision = bulk_decide(
            kind,
            status=group["status"],
            sent=group["sent"],
            expired=group["expired"],
            polled=group["polled"],
            has_input=group["has_input"],
        )
        n = group["n"]
        preview.total += n
        preview.acted += n if decision.act else 0
        counts = per_endpoint.setdefault(group["endpoint__name"], [0, 0])
        counts[0] += n
        counts[1] += n if decision.act else 0
        entry = outcomes.setdefault((decision.act, decision.reason), [Counter(), 0])
        entry[0][group["status"]] += n
        entry[1] += n
    preview.endpoints = sorted(((name, a, b) for name, (a, b) in per_endpoint.items()), key=lambda r: (-r[1], r[0]))
    preview.outcomes = sorted(
        ((act, reason, sorted(statuses), n) for (act, reason), (statuses, n) in outcomes.items()),
        key=lambda r: (not r[0], -r[3]),
    )
    return preview


# --- Starting and stopping ------------------------------------------------------------------------------------


def bulk_start(*, kind, filters, filter_query="", confirm="", user=None, remote_addr=None) -> BulkAction:
    """Fix the matching jobs as a batch and hand it to a worker.

    1. Read the matching jobs (at most BULK_MAX_JOBS); refuse an empty or oversized batch.
    2. Above BULK_CONFIRM_THRESHOLD, the number of jobs must have been typed, as a purge needs the endpoint's name.
    3. Store the batch and one item per job, audit the batch, and enqueue its task after commit.
    """
    if kind not in Kind.values:
        raise InputError("Choose cancel, retry, run again or stop tracking.")
    rows = bulk_job_ids(filters, limit=settings.BULK_MAX_JOBS + 1)
    if not rows:
        raise InputError("No job matches this filter.")
    if len(rows) > settings.BULK_MAX_JOBS:
        raise InputError(f"More than {settings.BULK_MAX_JOBS:,} jobs match: narrow the filter.")
    count = len(rows)
    if count > settings.BULK_CONFIRM_THRESHOLD and (confirm or "").strip().replace(",", "") != str(count):
        raise ConfirmError(f"Type {count} (the number of jobs) to confirm.", count=count)
    with transaction.atomic():
        bulk = BulkAction.objects.create(
            kind=kind,
            filter_query=filter_query[:2000],
            total=count,
            created_by=user if user is not None and user.is_authenticated else None,
            remote_addr=remote_addr,
            kicked_at=timezone.now(),
        )
        BulkItem.objects.bulk_create(
            (BulkItem(bulk=bulk, job_id=job_id, endpoint_id=endpoint_id) for job_id, endpoint_id in rows),
            batch_size=1000,
        )
        audit_record(
            action=f"bulk_{kind}",
            user=user,
            message=f"{bulk.get_kind_display()} {count:,} job(s) matching {filter_query or 'every job'}",
            detail={"bulk": bulk.pk, "filter": filter_query, "total": count},
            remote_addr=remote_addr,
        )
        enqueue_on_commit("run_bulk_action", bulk.pk, what="bulk action")
    return bulk


def bulk_stop(*, bulk, user=None, remote_addr=None) -> bool:
    """Ask a running batch to stop after the job in hand; False if it had already ended."""
    now = timezone.now()
    who = user.get_username() if user is not None and user.is_authenticated else ""
    asked = BulkAction.objects.filter(pk=bulk.pk, state=BulkAction.State.RUNNING, stop_requested_at__isnull=True)
    if not asked.update(stop_requested_at=now, stop_requested_by=who):
        return False
    # No task holds it right now (waiting in the broker, or its worker died): stop it here.
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    BulkAction.objects.filter(free, pk=bulk.pk, state=BulkAction.State.RUNNING).update(
        state=BulkAction.State.STOPPED, finished_at=now
    )
    audit_record(
        action=f"bulk_{bulk.kind}",
        user=user,
        message=f"Asked to stop: {bulk.get_kind_display()} of {bulk.total:,} job(s)",
        detail={"bulk": bulk.pk, "stop": True},
        remote_addr=remote_addr,
    )
    return True


def bulk_actions_orphaned(now=None) -> list[int]:
    """Running batches no task holds and no task was enqueued for lately (a lost message, a dead worker): mark
    them kicked and return their ids for the poll tick to enqueue."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    stale = Q(kicked_at__isnull=True) | Q(kicked_at__lt=now - timedelta(seconds=KICK_SECONDS))
    candidates = list(
        BulkAction.objects.filter(free, stale, state=BulkAction.State.RUNNING).values_list("pk", flat=True)[:20]
    )
    return [pk for pk in candidates if BulkAction.objects.filter(free, stale, pk=pk).update(kicked_at=now)]


# --- Working through a batch ----------------------------------------------------------------------------------


class Pacer:
    """Holds one batch to RATE_LIMIT_SHARE of an endpoint's documented limit, counting the calls of the last rate
    window from the items' claim times, so a task that takes over a batch knows what its predecessor spent."""

    def __init__(self, bulk: BulkAction):
        bucket = RATE_BUCKETS[bulk.kind]
        self.limit = max(1, int(DEFAULT_LIMITS[bucket].per_10s * settings.RATE_LIMIT_SHARE)) if bucket else None
        self.calls: dict[int, deque[float]] = {}
        if self.limit:
            since = timezone.now() - timedelta(seconds=WINDOW_SECONDS)
            recent = BulkItem.objects.filter(bulk=bulk, claimed_at__gte=since).order_by("claimed_at")
            for endpoint_id, at in recent.values_list("endpoint_id", "claimed_at"):
                self.calls.setdefault(endpoint_id, deque()).append(at.timestamp())

    def wait_seconds(self, endpoint_id) -> float:
        """0 if a call may go now, else how long until the oldest call of the window leaves it."""
        if not self.limit:
            return 0.0
        calls, now = self.calls.setdefault(endpoint_id, deque()), time.time()
        while calls and calls[0] <= now - WINDOW_SECONDS:
            calls.popleft()
        return 0.0 if len(calls) < self.limit else calls[0] + WINDOW_SECONDS - now

    def record(self, endpoint_id, at):
        if self.limit:
            self.calls.setdefault(endpoint_id, deque()).append(at.timestamp())


def bulk_run(bulk_id, *, budget_seconds=None) -> bool:
    """Work on a batch for up to budget_seconds; True if jobs are left for another task.

    1. Take the batch's lease (another task holding it means there is nothing to do here).
    2. Settle items a dead worker left claimed (see _recover).
    3. Claim and act on the pending items in order, each endpoint inside its rate budget, until the batch is done,
       a stop was asked for, or the budget is spent; then give the lease back.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    won = BulkAction.objects.filter(free, pk=bulk_id, state=BulkAction.State.RUNNING).update(
        lease_until=now + timedelta(seconds=lease_seconds()), lease_token=token
    )
    if not won:
        return False
    bulk = BulkAction.objects.select_related("created_by").get(pk=bulk_id)
    _recover(bulk)
    deadline = time.monotonic() + (budget_seconds if budget_seconds is not None else settings.BULK_TASK_SECONDS)
    pacer = Pacer(bulk)
    try:
        with shared_pool():
            more = _work(bulk, token, pacer, deadline)
    finally:
        BulkAction.objects.filter(pk=bulk_id, lease_token=token).update(lease_until=None, lease_token="")
    return more


def _work(bulk, token, pacer, deadline) -> bool:
    """Feed the pending items, in order, to the acting threads; True if the time ran out with items left."""
    workers = _Workers(bulk, settings.BULK_CONCURRENCY)
    lease = _Lease(bulk, token)
    try:
        while True:
            items = (
                BulkItem.objects.filter(bulk=bulk, state=Item.PENDING)
                .select_related("job", "job__endpoint")
                .defer(*(f"job__{name}" for name in UNREAD_JOB_COLUMNS))
            )
            pending = list(items.order_by("id")[:100])
            if not pending:
                workers.join()
                # A claim a thread could not settle (its database write failed): say so rather than leave it.
                BulkItem.objects.filter(bulk=bulk, state=Item.CLAIMED).update(
                    state=Item.FAILED, reason="An unexpected error; see the worker's log.", finished_at=timezone.now()
                )
                _finish(bulk, token, BulkAction.State.DONE)
                return False
            for item in pending:
                if time.monotonic() > deadline:
                    return True
                if lease.stop_asked() or not _dispatch(bulk, lease, pacer, workers, item):
                    # The jobs in hand are settled before the batch shows as stopped.
                    workers.close()
                    _finish(bulk, token, BulkAction.State.STOPPED)
                    return False
    finally:
        workers.close()


def _dispatch(bulk, lease, pacer, workers, item) -> bool:
    """Skip the item at once if the action does not apply; else wait for the endpoint's budget, claim it and hand
    it to a thread. False if a stop was asked while waiting."""
    decision = _decide_job(bulk.kind, item.job)
    if not decision.act:
        # An item a dead worker had claimed whose action shows only now (the poller recorded the cancel) is done.
        if item.claimed_at is not None and _acted_since(bulk.kind, item.job, item.claimed_at):
            _settle_recovered(bulk, item, item.job)
        else:
            _settle(item.pk, Item.SKIPPED, decision.reason)
        return True
    while (wait := pacer.wait_seconds(item.endpoint_id)) > 0:
        time.sleep(min(wait, 1.0))
        if lease.stop_asked(now=True):
            return False
    now = timezone.now()
    if BulkItem.objects.filter(pk=item.pk, state=Item.PENDING).update(state=Item.CLAIMED, claimed_at=now):
        pacer.record(item.endpoint_id, now)
        workers.submit(item)
    return True


class _Lease:
    """The batch's lease, renewed, and whether a stop was asked, read at most every CHECK_SECONDS (two queries
    per job would slow a thousand-job batch down more than RunPod's limit does)."""

    CHECK_SECONDS = 0.5

    def __init__(self, bulk, token):
        self.bulk, self.token, self.checked = bulk, token, float("-inf")

    def stop_asked(self, *, now=False) -> bool:
        if not now and time.monotonic() - self.checked < self.CHECK_SECONDS:
            return False
        self.checked = time.monotonic()
        return _stop_asked(self.bulk, self.token)


class _Workers:
    """Threads that act on claimed items, so the RunPod round trips of several jobs overlap (RunPod takes 20
    cancels at once). Each runs in a copy of the caller's context (its shared connection pool) and closes its
    database connection when it ends. With 0 threads, items are acted on in the caller's thread."""

    def __init__(self, bulk, count):
        self.bulk = bulk
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, count))
        self.threads = []
        for n in range(count):
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(self._loop,), name=f"bulk-{bulk.pk}-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def submit(self, item):
        if self.threads:
            self.queue.put(item)
        else:
            _process(self.bulk, item)

    def join(self):
        """Wait until every submitted item is settled."""
        if self.threads:
            self.queue.join()

    def close(self):
        """Let the threads settle what they hold, then end them (again: nothing)."""
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        self.threads = []

    def _loop(self):
        try:
            while (item := self.queue.get()) is not None:
                try:
                    _process(self.bulk, item)
                except Exception:
                    logger.exception("bulk action %s: job %s", self.bulk.pk, item.job_id)
                finally:
                    self.queue.task_done()
        finally:
            connection.close()


def _stop_asked(bulk, token) -> bool:
    """Renew the lease and read whether someone asked the batch to stop (one UPDATE and one read)."""
    lease = timezone.now() + timedelta(seconds=lease_seconds())
    if not BulkAction.objects.filter(pk=bulk.pk, lease_token=token).update(lease_until=lease):
        raise RuntimeError(f"lost the lease of bulk action {bulk.pk}")
    return BulkAction.objects.filter(pk=bulk.pk, stop_requested_at__isnull=False).exists()


def _finish(bulk, token, state):
    BulkAction.objects.filter(pk=bulk.pk, lease_token=token, state=BulkAction.State.RUNNING).update(
        state=state, finished_at=timezone.now()
    )


def _settle(item_id, state, reason="", **extra):
    BulkItem.objects.filter(pk=item_id).update(state=state, reason=reason[:300], finished_at=timezone.now(), **extra)


def _process(bulk, item):
    """Act on a claimed item's job, read afresh (a poller may have moved it while it waited), and record how it
    went."""
    job = item.job
    job.refresh_from_db(fields=DECIDING_COLUMNS)
    try:
        new_job = _act(bulk.kind, job, item.pk, user=bulk.created_by, remote_addr=bulk.remote_addr)
    except InputError as exc:  # the job changed since it was read: nothing was sent
        # item.claimed_at is still the claim of a dead worker, if any: its action may have landed meanwhile.
        if item.claimed_at is not None and _acted_since(bulk.kind, job, item.claimed_at):
            _settle_recovered(bulk, item, job)
        else:
            _settle(item.pk, Item.SKIPPED, str(exc))
    except ActionError as exc:
        _settle(item.pk, Item.FAILED, str(exc))
    except Exception:
        logger.exception("bulk action %s failed on job %s", bulk.pk, job.pk)
        _settle(item.pk, Item.FAILED, "An unexpected error; see the worker's log.")
    else:
        _settle(item.pk, Item.DONE, new_job=new_job)


def _act(kind, job, item_id, *, user, remote_addr):
    """The single-job service for the kind (each audits the job); returns the new job of a run again."""
    if kind == Kind.CANCEL:
        job_cancel(job=job, user=user, remote_addr=remote_addr)
    elif kind == Kind.RETRY:
        job_retry(job=job, user=user, remote_addr=remote_addr)
    elif kind == Kind.RUN_AGAIN:
        # The new job and the item's claim stand or fall together: a claimed item left by a dead worker then
        # proves no job was created, and it can safely go again.
        with transaction.atomic():
            new_job = job_run_again(job=job, user=user, remote_addr=remote_addr)
            _settle(item_id, Item.DONE, new_job=new_job)
        return new_job
    elif kind == Kind.STOP_TRACKING:
        job_stop_tracking(job=job, user=user, remote_addr=remote_addr)
    return None


def _acted_since(kind, job, claimed_at) -> bool:
    """Whether a job a dead worker had claimed shows the action. A cancelled job counts whoever recorded it: the
    poller may have read RunPod's CANCELLED first (its round can have started before our claim); a retry must
    show its own transition, which only the retry writes."""
    if kind == Kind.CANCEL:
        return Job.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists()
    return StatusTransition.objects.filter(job=job, source="retry", at__gte=claimed_at).exists()


def _settle_recovered(bulk, item, job):
    """Done by a worker that died before recording it: audit the job if that worker did not get to."""
    audited = AuditEntry.objects.filter(job=job, action=bulk.kind, at__gte=item.claimed_at).exists()
    if not audited:
        audit_record(
            action=bulk.kind,
            user=bulk.created_by,
            job=job,
            message=f"Bulk action {bulk.pk}: done; noted after the worker that asked RunPod stopped",
            remote_addr=bulk.remote_addr,
        )
    _settle(item.pk, Item.DONE)


def _recover(bulk):
    """Items a dead worker left claimed: mark done the ones whose action is recorded on the job, send the ones
    that cannot have been acted on (or whose action is idempotent) back to the queue, and fail a retry that may
    have reached RunPod, since a second /retry would run the job twice."""
    for item in BulkItem.objects.filter(bulk=bulk, state=Item.CLAIMED).select_related("job"):
        if bulk.kind in (Kind.CANCEL, Kind.RETRY):
            if _acted_since(bulk.kind, item.job, item.claimed_at):
                _settle_recovered(bulk, item, item.job)
                continue
            if bulk.kind == Kind.RETRY:
                _settle(item.pk, Item.FAILED, "The worker stopped during /retry: check whether RunPod retried it.")
                continue
        BulkItem.objects.filter(pk=item.pk, state=Item.CLAIMED).update(state=Item.PENDING)
