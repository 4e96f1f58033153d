"""Chart series: health snapshots and finished jobs aggregated per time bucket in SQL.

A week of 10-second snapshots is 60,480 rows per endpoint; the database groups them into a fixed number of
buckets so Python only ever sees a few hundred rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Count, FloatField, Func, Max, Q
from django.db.models.functions import Floor

from jobs.constants import CANCELLED, COMPLETED, FAILED_STATES
from jobs.models import HealthSnapshot, Job

from .paging import EPOCH

BUCKET_STEPS = (10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


class Epoch(Func):
    """Seconds since 1970 of a datetime column, on PostgreSQL and SQLite."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite datetimes as UTC text, which julianday() reads.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra
        )


def bucket_seconds(window: timedelta, points: int) -> int:
    """The smallest round bucket that splits the window into at most `points` buckets."""
    wanted = window.total_seconds() / max(points, 1)
    return next((step for step in BUCKET_STEPS if step >= wanted), BUCKET_STEPS[-1])


@dataclass
class Bucket:
    start: datetime
    values: dict | None  # None: no data in this bucket (the chart shows a gap)


HEALTH_AGGREGATES = {
    "jobs_in_queue": Max,
    "jobs_in_progress": Max,
    "workers_idle": Avg,
    "workers_initializing": Avg,
    "workers_ready": Avg,
    "workers_running": Avg,
    "workers_throttled": Avg,
    "workers_unhealthy": Avg,
}


def _bucketed(qs, time_field, size):
    return qs.annotate(bucket=Floor(Epoch(time_field) / size))


def _fill(rows_by_bucket: dict, *, since, until, size) -> list[Bucket]:
    first = math.floor((since - EPOCH).total_seconds() / size)
    last = math.floor((until - EPOCH).total_seconds() / size)
    return [
        Bucket(EPOCH + timedelta(seconds=n * size), rows_by_bucket.get(n))
        for n in range(max(first, last - 500), last + 1)
    ]


def health_series_many(endpoint_ids, *, since, until, points=120) -> dict[int, list[Bucket]]:
    """Snapshots of several endpoints in [since, until], aggregated per time bucket, one query in all."""
    size = bucket_seconds(until - since, points)
    qs = HealthSnapshot.objects.filter(endpoint_id__in=list(endpoint_ids), taken_at__gte=since, taken_at__lte=until)
    rows = (
        _bucketed(qs, "taken_at", size)
        .values("endpoint_id", "bucket")
        .annotate(**{name: agg(name) for name, agg in HEALTH_AGGREGATES.items()})
        .order_by()
    )
    grouped: dict[int, dict] = {pk: {} for pk in endpoint_ids}
    for row in rows.values_list("endpoint_id", "bucket", *HEALTH_AGGREGATES):
        # Floats once here (PostgreSQL's averages arrive as Decimal, slow to do sums with in every chart).
        values = {name: float(v or 0) for name, v in zip(HEALTH_AGGREGATES, row[2:], strict=True)}
        values["workers"] = sum(v for name, v in values.items() if name.startswith("workers_"))
        grouped[row[0]][int(row[1])] = values
    return {pk: _fill(by_bucket, since=since, until=until, size=size) for pk, by_bucket in grouped.items()}


def health_series(endpoint, *, since, until, points=120) -> list[Bucket]:
    return health_series_many([endpoint.pk], since=since, until=until, points=points)[endpoint.pk]


def throughput_series(endpoint, *, since, until, points=120) -> list[Bucket]:
    """Jobs of the endpoint that finished per time bucket: completed, failed (or timed out), cancelled."""
    size = bucket_seconds(until - since, points)
    qs = Job.objects.filter(endpoint=endpoint, finished_at__gte=since, finished_at__lte=until)
    rows = (
        _bucketed(qs, "finished_at", size)
        .values("bucket")
        .annotate(
            completed=Count("id", filter=Q(status=COMPLETED)),
            failed=Count("id", filter=Q(status__in=FAILED_STATES)),
            cancelled=Count("id", filter=Q(status=CANCELLED)),
        )
        .order_by()
    )
    by_bucket = {int(row.pop("bucket")): row for row in rows}
    buckets = _fill(by_bucket, since=since, until=until, size=size)
    for bucket in buckets:
        # No finished job is a real zero, not missing data.
        bucket.values = bucket.values or {"completed": 0, "failed": 0, "cancelled": 0}
    return buckets
