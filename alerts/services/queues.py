"""Is a queue stuck? The evidence behind the stuck-queue rule, read for every candidate endpoint at once.

A long wait alone is not a stuck queue: a busy endpoint draining a deep queue keeps its oldest job waiting for
minutes, and on a busy machine our own view of it (polls, /health ticks) arrives late. So the rule judges progress,
and calls a queue stuck only when it saw enough to say so:

Moving (not stuck), if any of
1. our records: a job of the endpoint started or finished within the threshold;
2. RunPod's /health over the last threshold's worth of snapshots (counted back from the newest one, so a health
   tick that runs late shifts the window instead of hiding the progress): its finished counters grew, or its queue
   shrank while workers ran;
3. RunPod's queue is empty now (a fresh /health says nothing waits) and our polling is not late: what still waits
   in our records is the poller catching up.
Stuck, if none of those, and
- a fresh /health shows no worker running (none at all, unhealthy, throttled, initializing): nothing can take the
  jobs, one answer is enough; or
- workers are running but /health has stood still for a whole threshold (one answer cannot tell a busy queue
  from one stuck behind endless jobs); or
- there is no fresh /health at all and the oldest job has waited longer than HEALTH_FRESH (the missing view is
  itself the news).
A refused key or an unknown endpoint id is stuck whatever the rest; so is a queue not moving while our polls of it
are late by the polling-behind margin.

The reads are a fixed number of statements whatever the number of endpoints: one statement of correlated index
lookups per distinct threshold, one for the snapshots it names, one grouped count of overdue jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min, OuterRef, Subquery
from django.db.models.functions import Coalesce

from jobs.constants import IN_PROGRESS, IN_QUEUE
from jobs.models import Endpoint, HealthSnapshot, Job

from .diagnosis import HEALTH_FRESH

# Every column of a /health answer but its raw body.
SNAPSHOT_FIELDS = tuple(f.attname for f in HealthSnapshot._meta.concrete_fields if f.name not in ("id", "raw"))


@dataclass
class QueueEvidence:
    endpoint_id: int
    last_finished: object = None
    last_started: object = None
    # /health answers as dicts of SNAPSHOT_FIELDS: the newest, and one taken at least a threshold before it (or
    # the oldest there is). Dicts, not models: building a hundred instances per tick cost more than reading them.
    newest: dict | None = None
    reference: dict | None = None
    overdue: int = 0  # queued or running jobs late for their poll by the polling-behind margin
    # The reference was taken a whole threshold before the newest answer (not the oldest there is, taken later).
    spans_threshold: bool = False

    def moved_here(self, since) -> bool:
        """View 1: our records saw a job start or finish since `since`."""
        return any(at is not None and at >= since for at in (self.last_started, self.last_finished))

    def moved_at_runpod(self) -> bool:
        """View 2: between the reference and the newest /health answer, RunPod finished jobs or its queue shrank
        while workers ran."""
        new, old = self.newest, self.reference
        if new is None or old is None or new["taken_at"] <= old["taken_at"]:
            return False
        finished = new["jobs_completed"] + new["jobs_failed"] > old["jobs_completed"] + old["jobs_failed"]
        return finished or (new["jobs_in_queue"] < old["jobs_in_queue"] and new["workers_running"] > 0)

    def drained_at_runpod(self, now) -> bool:
        """View 3: a fresh /health shows nothing queued at RunPod, and our polling is on time."""
        new = self.newest
        fresh = new is not None and new["taken_at"] >= now - HEALTH_FRESH
        return fresh and new["jobs_in_queue"] == 0 and not self.overdue

    def moving(self, now, since) -> bool:
        return self.moved_here(since) or self.moved_at_runpod() or self.drained_at_runpod(now)

    def seen_stuck(self, now, waited: float) -> bool:
        """Not moving, and enough seen to say it is stuck (see the module's docstring)."""
        new = self.newest
        if new is None or new["taken_at"] < now - HEALTH_FRESH:
            return waited >= HEALTH_FRESH.total_seconds()
        return new["workers_running"] == 0 or self.spans_threshold

    def newest_snapshot(self) -> HealthSnapshot | None:
        """The newest /health answer as a model, for the diagnosis."""
        return HealthSnapshot(**self.newest) if self.newest is not None else None


def queued_by_endpoint(endpoint_ids) -> dict[int, tuple[int, object]]:
    """Endpoint id -> (jobs IN_QUEUE, when the oldest of them was submitted), one grouped query."""
    rows = (
        Job.objects.filter(status=IN_QUEUE, endpoint_id__in=list(endpoint_ids))
        .values("endpoint_id")
        .annotate(n=Count("id"), oldest=Min(Coalesce("submitted_at", "created_at")))
    )
    return {row["endpoint_id"]: (row["n"], row["oldest"]) for row in rows if row["oldest"] is not None}


def queue_evidence(thresholds: dict[int, float], *, now, late) -> dict[int, QueueEvidence]:
    """The evidence for each endpoint id in `thresholds` (id -> seconds), with jobs overdue since `late` counted."""
    evidence = {pk: QueueEvidence(pk) for pk in thresholds}
    snapshot_ids = {}
    by_threshold: dict[float, list[int]] = {}
    for pk, seconds in thresholds.items():
        by_threshold.setdefault(seconds, []).append(pk)
    for seconds, ids in by_threshold.items():
        for row in _latest_marks(ids, timedelta(seconds=seconds)):
            item = evidence[row["pk"]]
            item.last_finished, item.last_started = row["last_finished"], row["last_started"]
            snapshot_ids[row["pk"]] = (row["newest_id"], row["reference_id"] or row["oldest_id"])
            item.spans_threshold = row["reference_id"] is not None
    wanted = {pk for pair in snapshot_ids.values() for pk in pair if pk is not None}
    rows = HealthSnapshot.objects.filter(pk__in=wanted).order_by().values("pk", *SNAPSHOT_FIELDS) if wanted else []
    snapshots = {row.pop("pk"): row for row in rows}
    for endpoint_id, (newest, reference) in snapshot_ids.items():
        evidence[endpoint_id].newest = snapshots.get(newest)
        evidence[endpoint_id].reference = snapshots.get(reference)
    overdue = (
        Job.objects.filter(endpoint_id__in=list(thresholds), next_poll_at__lt=late)
        .values("endpoint_id")
        .annotate(n=Count("id"))
    )
    for row in overdue:
        evidence[row["endpoint_id"]].overdue = row["n"]
    return evidence


def _latest_marks(endpoint_ids, threshold: timedelta):
    """One statement: per endpoint, its newest finish and start in our records, its newest /health answer, the one
    a threshold before that, and its oldest (each an index lookup: job_finished, job_list_endpoint_status,
    health_endpoint_time)."""
    health = HealthSnapshot.objects.filter(endpoint=OuterRef("pk"))
    newest = health.order_by("-taken_at")
    return (
        Endpoint.objects.filter(pk__in=endpoint_ids)
        .annotate(
            last_finished=Subquery(
                Job.objects.filter(endpoint=OuterRef("pk"), finished_at__isnull=False)
                .order_by("-finished_at")
                .values("finished_at")[:1]
            ),
            last_started=Subquery(
                Job.objects.filter(endpoint=OuterRef("pk"), status=IN_PROGRESS, started_at__isnull=False)
                .order_by("-started_at")
                .values("started_at")[:1]
            ),
            newest_id=Subquery(newest.values("pk")[:1]),
            newest_at=Subquery(newest.values("taken_at")[:1]),
            reference_id=Subquery(
                health.filter(taken_at__lte=OuterRef("newest_at") - threshold).order_by("-taken_at").values("pk")[:1]
            ),
            oldest_id=Subquery(health.order_by("taken_at").values("pk")[:1]),
        )
        .values("pk", "last_finished", "last_started", "newest_id", "reference_id", "oldest_id")
    )
