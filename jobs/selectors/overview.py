"""The overview at a hundred endpoints: every endpoint's state in a few indexed queries, what needs attention
first, and a fingerprint that says whether anything a person would see has changed.

Two steps so an unchanged refresh stays cheap: `overview_rows` reads what every endpoint's card, sort order and
freshness depend on (one query with a few indexed lookups per endpoint, plus the newest snapshots by id);
`overview_fingerprint` turns that into a short string; only when it differs does `overview_summaries` add the
last hour's jobs and build the summaries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from django.db.models import OuterRef, Subquery
from django.urls import reverse

from jobs.constants import HEALTH_WORKER_COUNTS
from jobs.models import Endpoint, HealthSnapshot, Job

from .endpoints import (
    HEALTH_STALE,
    POLL_BEHIND,
    EndpointSummary,
    FinishedStats,
    endpoint_warnings,
    finished_stats,
)

# The queue is growing when it is deeper now than in the newest snapshot at least this old.
QUEUE_TREND = timedelta(minutes=5)
# An endpoint is failing when at least this share of the last hour's finished jobs failed or timed out.
FAILING_SHARE = 0.10


class Attention(IntEnum):
    """Why an endpoint needs a look, most urgent first (the attention sort's order)."""

    KEY_REFUSED = 0  # nothing works until an admin fixes the key or the id
    FAILING = 1
    QUEUE_GROWING = 2
    WORKERS_UNHEALTHY = 3
    WARNING = 4  # stale snapshots, polling behind, rate limited
    HEALTHY = 5
    DISABLED = 6


ATTENTION_LABELS = {
    Attention.KEY_REFUSED: "Key refused",
    Attention.FAILING: "Failing",
    Attention.QUEUE_GROWING: "Queue growing",
    Attention.WORKERS_UNHEALTHY: "Workers unhealthy",
    Attention.WARNING: "Warning",
    Attention.HEALTHY: "Healthy",
    Attention.DISABLED: "Disabled",
}


HEALTH_FIELDS = (
    "id",
    "taken_at",
    "jobs_in_queue",
    "jobs_in_progress",
    *HEALTH_WORKER_COUNTS,
)
ENDPOINT_FIELDS = ("id", "name", "enabled", "auth_failed_at", "not_found_at", "backoff_until")


@dataclass(slots=True)
class EndpointState:
    """The endpoint's columns the overview shows or judges by: plain values, not a model instance, because the
    overview reads every endpoint on each refresh and Django's instances cost more than the queries."""

    pk: int
    name: str
    enabled: bool
    auth_failed_at: datetime | None
    not_found_at: datetime | None
    backoff_until: datetime | None
    oldest_due: datetime | None
    newest_health_id: int | None
    newest_finished: datetime | None
    queue_before: int | None

    @property
    def id(self) -> int:
        return self.pk

    def get_absolute_url(self) -> str:
        return reverse("endpoint_detail", args=[self.pk])

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class HealthState:
    """The newest snapshot's figures (the same names as HealthSnapshot's fields)."""

    id: int
    taken_at: datetime
    jobs_in_queue: int
    jobs_in_progress: int
    workers_idle: int
    workers_initializing: int
    workers_ready: int
    workers_running: int
    workers_throttled: int
    workers_unhealthy: int

    @property
    def workers_total(self) -> int:
        return sum(getattr(self, name) for name in HEALTH_WORKER_COUNTS)


@dataclass(slots=True)
class OverviewRow:
    """What the overview knows of an endpoint before reading its jobs."""

    endpoint: EndpointState
    health: HealthState | None

    @property
    def pk(self) -> int:
        return self.endpoint.pk

    @property
    def queue_growing(self) -> bool:
        before = self.endpoint.queue_before
        return self.health is not None and before is not None and self.health.jobs_in_queue > before


def overview_rows(now, *, search: str = "") -> list[OverviewRow]:
    """Every endpoint whose name contains `search`, with its newest snapshot and its queue some minutes ago:
    two queries, the first with a few steps down an index per endpoint."""
    snapshots = HealthSnapshot.objects.filter(endpoint=OuterRef("pk")).order_by("-taken_at")
    finished = Job.objects.filter(endpoint=OuterRef("pk"), finished_at__isnull=False).order_by("-finished_at")
    due = Job.objects.filter(endpoint=OuterRef("pk"), next_poll_at__isnull=False).order_by("next_poll_at")
    qs = Endpoint.objects.filter(name__icontains=search) if search else Endpoint.objects.all()
    values = (
        qs.annotate(
            oldest_due=Subquery(due.values("next_poll_at")[:1]),
            newest_health_id=Subquery(snapshots.values("id")[:1]),
            newest_finished=Subquery(finished.values("finished_at")[:1]),
            queue_before=Subquery(snapshots.filter(taken_at__lte=now - QUEUE_TREND).values("jobs_in_queue")[:1]),
        )
        .order_by("name")
        .values_list(*ENDPOINT_FIELDS, "oldest_due", "newest_health_id", "newest_finished", "queue_before")
    )
    endpoints = [EndpointState(*row) for row in values]
    newest = [e.newest_health_id for e in endpoints if e.newest_health_id]
    health = {
        row[0]: HealthState(*row) for row in HealthSnapshot.objects.filter(id__in=newest).values_list(*HEALTH_FIELDS)
    }
    return [OverviewRow(e, health.get(e.newest_health_id)) for e in endpoints]


def overview_fingerprint(rows: list[OverviewRow], now) -> str:
    """Changes whenever a card, a total or the order could: a new snapshot, a finished job, an endpoint's flags,
    a warning appearing, or the minute turning (the last hour slides and drops old jobs)."""
    parts = [str(int(now.timestamp() // 60))]
    for row in rows:
        e = row.endpoint
        behind = bool(e.enabled and e.oldest_due and now - e.oldest_due > POLL_BEHIND)
        stale = row.health is not None and now - row.health.taken_at > HEALTH_STALE
        backing_off = bool(e.backoff_until and e.backoff_until > now)
        parts.append(
            f"{e.pk}|{e.name}|{e.enabled}|{e.auth_failed_at}|{e.not_found_at}|{backing_off}|{behind}|{stale}|"
            f"{e.newest_health_id}|{e.newest_finished}|{e.queue_before}"
        )
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


@dataclass
class OverviewSummary(EndpointSummary):
    attention: Attention = Attention.HEALTHY
    queue_growing: bool = False

    @property
    def attention_label(self) -> str:
        return ATTENTION_LABELS[self.attention]

    @property
    def tone(self) -> str:
        """error, warn, ok or muted: the colour of the card and its pill."""
        if self.state == "error" or self.attention <= Attention.FAILING:
            return "error"
        if self.attention == Attention.DISABLED:
            return "muted"
        return "warn" if self.attention <= Attention.WARNING else "ok"

    @property
    def pill_text(self) -> str:
        """The reason when it is one of the named ones, else the card's usual word for its state."""
        if self.attention < Attention.WARNING or self.attention == Attention.DISABLED:
            return self.attention_label
        return {"ok": "Healthy", "warn": "Warning"}.get(self.state, "Problem")


def attention_of(endpoint, health, stats: FinishedStats, warnings, queue_growing: bool) -> Attention:
    if not endpoint.enabled:
        return Attention.DISABLED
    if endpoint.auth_failed_at or endpoint.not_found_at:
        return Attention.KEY_REFUSED
    finished = stats.completed + stats.failed
    if stats.failed and stats.failed >= FAILING_SHARE * finished:
        return Attention.FAILING
    if queue_growing:
        return Attention.QUEUE_GROWING
    if health is not None and health.workers_unhealthy:
        return Attention.WORKERS_UNHEALTHY
    if any(level != "muted" for level, _ in warnings):
        return Attention.WARNING
    return Attention.HEALTHY


def overview_summaries(rows: list[OverviewRow], now) -> list[OverviewSummary]:
    """The rows with the last hour's jobs, their warnings and why each needs attention (no chart series)."""
    stats = finished_stats([row.pk for row in rows], since=now - timedelta(hours=1), until=now)
    summaries = []
    for row in rows:
        endpoint, health = row.endpoint, row.health
        last_hour = stats.get(row.pk, FinishedStats())
        warnings = endpoint_warnings(endpoint, health, endpoint.oldest_due, now)
        growing = row.queue_growing
        summaries.append(
            OverviewSummary(
                endpoint=endpoint,
                health=health,
                last_hour=last_hour,
                oldest_due=endpoint.oldest_due,
                warnings=warnings,
                attention=attention_of(endpoint, health, last_hour, warnings, growing),
                queue_growing=growing,
            )
        )
    return summaries


SORTS = {
    # Most urgent first; within a reason by name, so the order holds still while queues go up and down.
    "attention": lambda s: (s.attention, s.endpoint.name.lower()),
    "name": lambda s: s.endpoint.name.lower(),
    "queue": lambda s: (-(s.health.jobs_in_queue if s.health else -1), s.endpoint.name),
    "failed": lambda s: (-s.last_hour.failed, s.endpoint.name),
}


def overview_sorted(summaries, *, sort: str, pinned: set[int]) -> list[OverviewSummary]:
    """Pinned endpoints first, each group in the chosen order."""
    key = SORTS[sort]
    return sorted(summaries, key=lambda s: (s.endpoint.pk not in pinned, key(s)))


def endpoint_newest_finished(endpoint_pk):
    """When the endpoint's most recently finished job finished (one step down an index), or None."""
    return (
        Job.objects.filter(endpoint_id=endpoint_pk, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
