"""Reading new status transitions: failed jobs go into their error group, expired ones are recorded as lost.

Transition ids only grow, so each tick reads past a cursor on the primary key instead of scanning jobs. Ids are
handed out before commit, so a slow transaction can land below the cursor: every read starts FEED_OVERLAP ids back
and rows already recorded are skipped.
"""

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q

from alerts.models import ErrorGroup, JobFailure, LostResult, Marker
from jobs.constants import EXPIRED, FAILED_STATES
from jobs.models import Job, StatusTransition

from .signatures import error_signature

FEED_MARKER = "transition_feed"
FEED_OVERLAP = 5_000
FEED_BATCH = 20_000


def transitions_read(*, batch=FEED_BATCH) -> dict:
    """Record failures and losses from transitions past the cursor; returns what was added."""
    marker, _ = Marker.objects.get_or_create(name=FEED_MARKER)
    if marker.position == 0:
        # A first run starts at the end: the history before alerts existed is not news.
        last = StatusTransition.objects.order_by("-id").values_list("id", flat=True).first() or 0
        marker.position = max(0, last - FEED_OVERLAP)
    # Rows already recorded are left out by the database (an anti-join on each table's primary key), so the
    # overlap costs a short index range, not thousands of rows read and checked here on every tick.
    recorded = Q(to_status__in=FAILED_STATES) & Exists(JobFailure.objects.filter(job_id=OuterRef("job_id"))) | Q(
        to_status=EXPIRED
    ) & Exists(LostResult.objects.filter(job_id=OuterRef("job_id")))
    rows = list(
        StatusTransition.objects.filter(id__gt=max(0, marker.position - FEED_OVERLAP))
        .filter(to_status__in=(*FAILED_STATES, EXPIRED))
        .exclude(recorded)
        .order_by("id")
        .values_list("id", "job_id", "to_status", "at")[:batch]
    )
    top = StatusTransition.objects.order_by("-id").values_list("id", flat=True).first() or 0
    added = {"failures": failures_record([r for r in rows if r[2] in FAILED_STATES]), "lost": 0}
    added["lost"] = losses_record([r for r in rows if r[2] == EXPIRED])
    position = rows[-1][0] if len(rows) == batch else top
    Marker.objects.filter(name=FEED_MARKER).update(position=max(position, marker.position))
    return added


def failures_record(rows) -> int:
    job_ids = {job_id for _, job_id, _, _ in rows}
    if not job_ids:
        return 0
    known = set(JobFailure.objects.filter(job_id__in=job_ids).values_list("job_id", flat=True))
    at_by_job = {job_id: at for _, job_id, _, at in rows}
    jobs = Job.objects.filter(pk__in=job_ids - known, status__in=FAILED_STATES).values_list(
        "pk", "endpoint_id", "status", "error_raw", "error"
    )
    added = 0
    for pk, endpoint_id, status, error_raw, error in jobs:
        added += failure_record(pk, endpoint_id, status, error_raw, error, at_by_job[pk])
    return added


def failure_record(job_id, endpoint_id, status, error_raw, error, at) -> int:
    signature, kind, message = error_signature(status, error_raw, error)
    try:
        with transaction.atomic():
            group, _ = ErrorGroup.objects.get_or_create(
                signature=signature,
                defaults={"error_type": kind, "message": message, "first_seen": at, "last_seen": at, "count": 0},
            )
            JobFailure.objects.create(job_id=job_id, group=group, endpoint_id=endpoint_id, status=status, at=at)
            ErrorGroup.objects.filter(pk=group.pk).update(count=F("count") + 1)
            ErrorGroup.objects.filter(pk=group.pk, last_seen__lt=at).update(last_seen=at)
            ErrorGroup.objects.filter(pk=group.pk, first_seen__gt=at).update(first_seen=at)
    except IntegrityError:
        return 0  # another tick recorded it first
    return 1


def losses_record(rows) -> int:
    job_ids = {job_id for _, job_id, _, _ in rows}
    if not job_ids:
        return 0
    at_by_job = {job_id: at for _, job_id, _, at in rows}
    endpoints = dict(Job.objects.filter(pk__in=job_ids, expired=True).values_list("pk", "endpoint_id"))
    created = LostResult.objects.bulk_create(
        [LostResult(job_id=pk, endpoint_id=ep, at=at_by_job[pk]) for pk, ep in endpoints.items()],
        ignore_conflicts=True,
    )
    return len(created)
