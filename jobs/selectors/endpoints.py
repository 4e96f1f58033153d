"""Endpoint figures for the overview and endpoint pages: newest health, last hour's jobs, warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, OuterRef, Q, Subquery

from jobs.constants import CANCELLED, COMPLETED, FAILED_STATES, IN_QUEUE
from jobs.models import Endpoint, HealthSnapshot, Job

from .series import health_series_many

# A due job this overdue means the poller is not keeping up with the endpoint.
POLL_BEHIND = timedelta(seconds=30)
HEALTH_STALE = timedelta(seconds=60)


@dataclass
class Percentiles:
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


@dataclass
class FinishedStats:
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    delay: Percentiles = field(default_factory=Percentiles)
    execution: Percentiles = field(default_factory=Percentiles)


@dataclass
class EndpointSummary:
    endpoint: Endpoint
    health: HealthSnapshot | None
    last_hour: FinishedStats
    oldest_due: datetime | None
    warnings: list[tuple[str, str]]
    series: list = field(default_factory=list)

    @property
    def state(self) -> str:
        """One word for the card's pill: the worst warning, or ok."""
        levels = [level for level, _ in self.warnings]
        return "error" if "error" in levels else "warn" if "warn" in levels else "ok"


def endpoints_enabled():
    """Enabled endpoints by name, id and name only: the choices of the submit and track forms (a queryset, so a
    form can also validate a posted id against it)."""
    return Endpoint.objects.filter(enabled=True).only("id", "name").order_by("name")


def endpoints_for_submit():
    """Every endpoint, for the submit form to validate a posted id against (choices come from endpoints_enabled):
    a disabled one is then refused with the reason rather than as an unknown choice."""
    return Endpoint.objects.only("id", "name", "enabled").order_by("name")


def endpoint_enabled(pk: int) -> Endpoint | None:
    """One enabled endpoint, id and name only, or None."""
    return endpoints_enabled().filter(pk=pk).first()


def endpoint_options(*, enabled_only=False) -> list[tuple[int, str]]:
    """(id, name) of the endpoints by name, for the list filters."""
    qs = Endpoint.objects.filter(enabled=True) if enabled_only else Endpoint.objects.all()
    return list(qs.order_by("name").values_list("id", "name"))


def endpoint_get(pk) -> Endpoint:
    """One endpoint (raises Endpoint.DoesNotExist)."""
    return Endpoint.objects.get(pk=pk)


def endpoints_with_poll_state(qs=None):
    """Endpoints annotated with their newest snapshot's id and their most overdue job's due time (indexed)."""
    qs = Endpoint.objects.all() if qs is None else qs
    newest = HealthSnapshot.objects.filter(endpoint=OuterRef("pk")).order_by("-taken_at").values("id")[:1]
    due = (
        Job.objects.filter(endpoint=OuterRef("pk"), next_poll_at__isnull=False)
        .order_by("next_poll_at")
        .values("next_poll_at")[:1]
    )
    return qs.defer("api_key", "status_calls").annotate(newest_health_id=Subquery(newest), oldest_due=Subquery(due))


def _waited(delay: timedelta) -> str:
    """Seconds, then whole minutes, then hours: a sentence that changes once a minute at most after the first two
    (the overview caches each card until what it says changes)."""
    seconds = int(delay.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


def endpoint_warnings(endpoint, health, oldest_due, now) -> list[tuple[str, str]]:
    """(level, sentence) pairs a person should see about an endpoint, worst first."""
    found = []
    if not endpoint.enabled:
        found.append(("muted", "Disabled: not polled."))
    if endpoint.auth_failed_at:
        found.append(("error", "RunPod refuses this endpoint's API key; an admin must update it."))
    if endpoint.not_found_at:
        found.append(("error", "RunPod does not know this endpoint id."))
    if endpoint.backoff_until and endpoint.backoff_until > now:
        found.append(("warn", "Rate limited by RunPod; polling is backing off."))
    if endpoint.enabled and oldest_due and now - oldest_due > POLL_BEHIND:
        found.append(("warn", f"Polling is behind: a job has waited {_waited(now - oldest_due)} past its due time."))
    if endpoint.enabled and not endpoint.auth_failed_at:
        if health is None:
            found.append(("warn", "No health snapshot yet."))
        elif now - health.taken_at > HEALTH_STALE:
            found.append(("warn", "Health snapshots are stale: is the worker running?"))
    return sorted(found, key=lambda item: ("error", "warn", "muted").index(item[0]))


def overview_endpoints(now, *, chart_window=timedelta(hours=1), points=30) -> list[EndpointSummary]:
    """Every endpoint's state at a glance, in a fixed number of queries however many jobs and snapshots exist."""
    endpoints = list(endpoints_with_poll_state())
    ids = [e.pk for e in endpoints]
    health = HealthSnapshot.objects.in_bulk([e.newest_health_id for e in endpoints if e.newest_health_id])
    stats = finished_stats(ids, since=now - timedelta(hours=1), until=now)
    series = health_series_many(ids, since=now - chart_window, until=now, points=points)
    summaries = []
    for endpoint in endpoints:
        snapshot = health.get(endpoint.newest_health_id)
        summaries.append(
            EndpointSummary(
                endpoint=endpoint,
                health=snapshot,
                last_hour=stats.get(endpoint.pk, FinishedStats()),
                oldest_due=endpoint.oldest_due,
                warnings=endpoint_warnings(endpoint, snapshot, endpoint.oldest_due, now),
                series=series.get(endpoint.pk, []),
            )
        )
    return summaries


def endpoint_summary(endpoint_pk, now) -> EndpointSummary:
    """The overview's figures for one endpoint (raises Endpoint.DoesNotExist)."""
    endpoint = endpoints_with_poll_state(Endpoint.objects.filter(pk=endpoint_pk)).get()
    snapshot = (
        HealthSnapshot.objects.filter(pk=endpoint.newest_health_id).first() if endpoint.newest_health_id else None
    )
    stats = finished_stats([endpoint.pk], since=now - timedelta(hours=1), until=now)
    return EndpointSummary(
        endpoint=endpoint,
        health=snapshot,
        last_hour=stats.get(endpoint.pk, FinishedStats()),
        oldest_due=endpoint.oldest_due,
        warnings=endpoint_warnings(endpoint, snapshot, endpoint.oldest_due, now),
    )


def endpoint_queued(endpoint) -> dict:
    """What a purge would touch: RunPod's queue depth from the newest snapshot, and our own queued jobs."""
    snapshot = HealthSnapshot.objects.filter(endpoint=endpoint).order_by("-taken_at").first()
    ours = Job.objects.filter(endpoint=endpoint, status=IN_QUEUE).values("id")[:50_001].count()
    return {"snapshot": snapshot, "ours": ours}


FINISHED_COUNTS = {
    "completed": Count("id", filter=Q(status=COMPLETED)),
    "failed": Count("id", filter=Q(status__in=FAILED_STATES)),
    "cancelled": Count("id", filter=Q(status=CANCELLED)),
}


def finished_stats(endpoint_ids, *, since, until) -> dict[int, FinishedStats]:
    """Jobs that finished in [since, until) per endpoint: counts and delay/execution percentiles."""
    finished = Job.objects.filter(
        endpoint_id__in=list(endpoint_ids), finished_at__gte=since, finished_at__lt=until
    ).order_by()
    if connection.vendor == "postgresql":
        # One pass: the counts and both columns' percentiles in the same GROUP BY.
        rows = finished.values("endpoint_id").annotate(
            **FINISHED_COUNTS, delay=PercentilesCont("delay_ms"), execution=PercentilesCont("execution_ms")
        )
        return {
            row["endpoint_id"]: FinishedStats(
                row["completed"],
                row["failed"],
                row["cancelled"],
                Percentiles(*(row["delay"] or ())),
                Percentiles(*(row["execution"] or ())),
            )
            for row in rows
        }
    counts = finished.values("endpoint_id").annotate(**FINISHED_COUNTS)
    stats = {row["endpoint_id"]: FinishedStats(row["completed"], row["failed"], row["cancelled"]) for row in counts}
    if stats:
        for endpoint_id, (delay, execution) in _percentiles_python(finished).items():
            stats[endpoint_id].delay = delay
            stats[endpoint_id].execution = execution
    return stats


class PercentilesCont(Aggregate):
    """PostgreSQL's percentile_cont(ARRAY[.5, .9, .99]) WITHIN GROUP (ORDER BY expression): p50, p90, p99.

    An Aggregate, not a Func: Django leaves aggregates out of GROUP BY, but groups by a plain Func's columns.
    """

    function = "percentile_cont"
    template = "%(function)s(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, column):
        from django.contrib.postgres.fields import ArrayField

        super().__init__(F(column), output_field=ArrayField(FloatField()))


# Other databases: the newest finished jobs, read in bulk and ranked in Python.
PERCENTILE_SAMPLE = 50_000


def _percentiles_python(finished) -> dict:
    values: dict[int, tuple[list, list]] = {}
    rows = finished.order_by("-finished_at").values_list("endpoint_id", "delay_ms", "execution_ms")
    for endpoint_id, delay, execution in rows[:PERCENTILE_SAMPLE]:
        delays, executions = values.setdefault(endpoint_id, ([], []))
        if delay is not None:
            delays.append(delay)
        if execution is not None:
            executions.append(execution)
    return {pk: (percentiles_of(d), percentiles_of(e)) for pk, (d, e) in values.items()}


def percentiles_of(values) -> Percentiles:
    """Linear-interpolated percentiles, as PostgreSQL's percentile_cont computes them."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles()

    def at(fraction):
        position = fraction * (len(ordered) - 1)
        low, high = math.floor(position), math.ceil(position)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return Percentiles(at(0.5), at(0.9), at(0.99))
