"""Job lists (filters, keyset pages, id and input search) and one job's page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, TextField
from django.db.models.functions import Cast, Substr

from jobs.constants import JOB_IDS_PER_REQUEST, PENDING, RUNPOD_ID_MAX_LENGTH
from jobs.models import Job, StatusTransition, StreamChunk

from .paging import Cursor, keyset_page, older_than, row_cursor

# Text search in inputs reads at most this many of the newest jobs matching the other filters per page.
TEXT_SEARCH_SCAN = 20_000
# Columns a list row needs; input, output and the raw answers can be megabytes and stay in the database.
LIST_COLUMNS = (
    "id",
    "endpoint__id",
    "endpoint__name",
    "endpoint__price_per_second",
    "runpod_id",
    "mode",
    "streaming",
    "tracked",
    "status",
    "delay_ms",
    "execution_ms",
    "created_at",
    "started_at",
    "finished_at",
    "next_poll_at",
    "expired",
    "not_found",
    "completed_without_output",
    "submitted_by__id",
    "submitted_by__username",
)
INPUT_PREVIEW_CHARS = 160


@dataclass(frozen=True)
class JobFilters:
    endpoint_id: int | None = None
    status: str = ""  # one status, or "active" for every non-final one
    since: datetime | None = None
    until: datetime | None = None
    user_id: int | None = None
    q: str = ""  # a RunPod job id, or text to find in inputs
    error_group_id: int | None = None  # failed jobs of one error group (alerts.JobFailure, one row per job)

    def apply(self, qs):
        if self.endpoint_id is not None:
            qs = qs.filter(endpoint_id=self.endpoint_id)
        if self.status == "active":
            # Still changing: due for a poll (the partial index job_due holds exactly these), or not sent yet.
            qs = qs.filter(Q(next_poll_at__isnull=False) | Q(status=PENDING))
        elif self.status:
            qs = qs.filter(status=self.status)
        if self.since is not None:
            qs = qs.filter(created_at__gte=self.since)
        if self.until is not None:
            qs = qs.filter(created_at__lt=self.until)
        if self.user_id is not None:
            qs = qs.filter(submitted_by_id=self.user_id)
        if self.error_group_id is not None:
            qs = qs.filter(failure__group_id=self.error_group_id)
        return qs


@dataclass
class JobPage:
    jobs: list
    older: str | None = None
    newer: str | None = None
    # How the search box was read: "id" (an exact job id matched), "text" (searched inputs), or "".
    search: str = ""
    # For a text search: the oldest job it read, when it stopped at TEXT_SEARCH_SCAN rows.
    scanned_to: datetime | None = None
    scan_more: str | None = None


def job_list_rows():
    """Jobs with only the columns a list row shows, and a short preview of the input."""
    return (
        Job.objects.select_related("endpoint", "submitted_by")
        .only(*LIST_COLUMNS)
        .annotate(input_preview=Substr(Cast("input", TextField()), 1, INPUT_PREVIEW_CHARS))
    )


def job_list(filters: JobFilters, *, after: Cursor | None = None, before: Cursor | None = None, limit=50) -> JobPage:
    """A page of jobs, newest first. The search box matches a job id exactly (indexed), else text in inputs."""
    qs = filters.apply(job_list_rows())
    q = filters.q.strip()
    if q and not any(c.isspace() for c in q) and len(q) <= RUNPOD_ID_MAX_LENGTH:
        exact = list(qs.filter(runpod_id=q).order_by("-created_at", "-id")[:limit])
        if exact:
            return JobPage(jobs=exact, search="id")
    if not q:
        rows, older, newer = keyset_page(qs, time_field="created_at", after=after, before=before, limit=limit)
        return JobPage(jobs=rows, older=older, newer=newer)
    return _job_text_search(filters, qs, q, after=after, limit=limit)


def _job_text_search(filters: JobFilters, qs, q: str, *, after: Cursor | None, limit: int) -> JobPage:
    """Jobs whose input contains q, among the TEXT_SEARCH_SCAN newest that match the other filters.

    1. Find the oldest row of that window (an index scan with OFFSET, no table read).
    2. Search newest first down to it; the database stops as soon as it has a page of matches.
    3. Fewer matches than a page: say how far back we read, and offer to go on from there.
    """
    window = filters.apply(Job.objects.all())
    if after is not None:
        window = window.filter(older_than(after))
        qs = qs.filter(older_than(after))
    edge = list(window.order_by("-created_at", "-id").values_list("created_at", "id")[TEXT_SEARCH_SCAN - 1 :][:1])
    if edge:
        at, pk = edge[0]
        qs = qs.filter(Q(created_at__gte=at) & (Q(created_at__gt=at) | Q(id__gte=pk)))
    # JSON text may hold the escaped form (SQLite stores "café" as "caf\\u00e9"): look for both.
    found = Q(input_text__icontains=q)
    escaped = json.dumps(q)[1:-1]
    if escaped != q:
        found |= Q(input_text__icontains=escaped)
    matches = qs.annotate(input_text=Cast("input", TextField())).filter(found)
    rows = list(matches.order_by("-created_at", "-id")[: limit + 1])
    page = JobPage(jobs=rows[:limit], search="text")
    if len(rows) > limit:
        page.older = row_cursor(rows[limit - 1], "created_at")
    elif edge:
        page.scanned_to = edge[0][0]
        page.scan_more = Cursor(*edge[0]).encode()
    return page


def job_rows(ids) -> list:
    """The given jobs as list rows (the live refresh of a page's active rows)."""
    return list(job_list_rows().filter(id__in=list(ids)[:JOB_IDS_PER_REQUEST]).order_by("-created_at", "-id"))


def job_newer_count(filters: JobFilters, newest: Cursor, cap=100) -> int:
    """How many jobs arrived above the first row of a list page, counted no further than cap."""
    newer = Q(created_at__gt=newest.at) | Q(created_at=newest.at, id__gt=newest.id)
    return filters.apply(Job.objects.filter(newer)).values("id")[:cap].count()


def job_detail(pk) -> Job:
    """One job with what its page shows (raises Job.DoesNotExist)."""
    return Job.objects.select_related("endpoint", "submitted_by").defer("s3_config").get(pk=pk)


def job_transitions(job) -> list[StatusTransition]:
    return list(StatusTransition.objects.filter(job=job).order_by("at", "id"))


def job_chunks(job, *, after=-1, limit=200) -> list[StreamChunk]:
    """Stream chunks with seq > after, in order."""
    return list(StreamChunk.objects.filter(job=job, seq__gt=after).order_by("seq")[:limit])


def job_chunk_outputs(job):
    return StreamChunk.objects.filter(job=job).order_by("seq").values_list("output", flat=True).iterator()
