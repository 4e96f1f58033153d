"""Reads for bulk actions: every job a jobs-list filter matches (not one page of it), the dry run's groups, and a
batch's progress."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from jobs.models import BulkAction, BulkItem, Job

from .jobs import JobFilters, job_text_filter


def bulk_matching(filters: JobFilters):
    """Every job the filter matches. The search box reads as on the list: an exact job id if one matches, else
    text in the input, output or error, here over all matching jobs rather than the newest 10,000 (a bulk action is
    rare)."""
    qs = filters.apply(Job.objects.all())
    q = filters.q.strip()
    if not q:
        return qs
    if not any(c.isspace() for c in q) and len(q) <= 200 and qs.filter(runpod_id=q).exists():
        return qs.filter(runpod_id=q)
    return job_text_filter(qs, q)


def _flag(condition: Q):
    return ExpressionWrapper(condition, output_field=BooleanField())


def bulk_groups(filters: JobFilters) -> list[dict]:
    """The matching jobs counted by endpoint and by everything that decides what an action does to a job."""
    rows = (
        bulk_matching(filters)
        .annotate(
            sent=_flag(Q(runpod_id__isnull=False)),
            polled=_flag(Q(next_poll_at__isnull=False)),
            has_input=_flag(Q(input__isnull=False)),
        )
        .values("endpoint_id", "endpoint__name", "status", "expired", "sent", "polled", "has_input")
        .annotate(n=Count("id"))
        .order_by()
    )
    return list(rows)


def bulk_job_ids(filters: JobFilters, *, limit: int) -> list[tuple[int, int]]:
    """(job id, endpoint id) of up to `limit` matching jobs, oldest first (the order they are acted on)."""
    return list(bulk_matching(filters).order_by("created_at", "id").values_list("id", "endpoint_id")[:limit])


@dataclass
class BulkProgress:
    bulk: BulkAction
    counts: dict = field(default_factory=dict)  # item state -> count
    reasons: list = field(default_factory=list)  # (state, reason, count) of skipped and failed items, most first
    recent: list = field(default_factory=list)  # the latest failed or skipped items, with their jobs

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("done", "skipped", "failed"))

    @property
    def left(self) -> int:
        return self.bulk.total - self.finished

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.bulk.total) if self.bulk.total else 100


def bulk_progress(pk) -> BulkProgress:
    """A batch with its counts by state and the reasons jobs were skipped or failed (raises DoesNotExist)."""
    bulk = BulkAction.objects.select_related("created_by").get(pk=pk)
    items = BulkItem.objects.filter(bulk=bulk)
    counts = dict(items.values_list("state").annotate(n=Count("id")).order_by())
    reasons = list(
        items.filter(state__in=("skipped", "failed"))
        .values_list("state", "reason")
        .annotate(n=Count("id"))
        .order_by("-n", "state", "reason")[:20]
    )
    recent = list(
        items.filter(state__in=("skipped", "failed"))
        .select_related("job", "endpoint")
        .only("state", "reason", "job__id", "job__runpod_id", "job__status", "endpoint__name")
        .order_by("-finished_at", "-id")[:10]
    )
    return BulkProgress(bulk=bulk, counts=counts, reasons=reasons, recent=recent)


def bulk_recent(*, exclude=None, limit=10) -> list[BulkAction]:
    return list(
        BulkAction.objects.exclude(pk=exclude).select_related("created_by").order_by("-created_at", "-id")[:limit]
    )
