"""Job lists (filters, keyset pages, id and text search) and one job's page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, TextField
from django.db.models.functions import Cast, Substr

from jobs.constants import JOB_IDS_PER_REQUEST, PENDING, RUNPOD_ID_MAX_LENGTH
from jobs.models import Job, StatusTransition, StreamChunk

from .paging import Cursor, keyset_page, older_than, row_cursor

# Text search reads at most this many of the newest jobs matching the other filters per page. 10,000 since it reads
# outputs and errors too: about the cost of reading 20,000 inputs alone (docs/benchmarks.md, Page speed).
TEXT_SEARCH_SCAN = 10_000
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
    q: str = ""  # a RunPod job id, or text to find in inputs, outputs and errors
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
    # How the search box was read: "id" (an exact job id matched), "text" (searched inputs, outputs, errors), or "".
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
    """A page of jobs, newest first. The search box matches a job id exactly (indexed), else text in inputs, outputs
    and errors."""
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
    """Jobs whose input, output or error contains q, among the TEXT_SEARCH_SCAN newest matching the other filters.

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
    rows = list(job_text_filter(qs, q).order_by("-created_at", "-id")[: limit + 1])
    page = JobPage(jobs=rows[:limit], search="text")
    if len(rows) > limit:
        page.older = row_cursor(rows[limit - 1], "created_at")
    elif edge:
        page.scanned_to = edge[0][0]
        page.scan_more = Cursor(*edge[0]).encode()
    return page


def job_text_match(q: str) -> tuple[dict, Q]:
    """The search box's text search: (annotations, condition) for jobs whose input, output or error contains q,
    ignoring case. One definition for the list, bulk actions and saved views' counts. Meant for a bounded window
    (see _job_text_search) or a rare whole-table action: it scans these columns, no index serves it."""
    found = Q()
    # JSON text may hold the escaped form (SQLite stores "café" as "caf\\u00e9"): look for both.
    for text in dict.fromkeys((q, json.dumps(q)[1:-1])):
        found |= Q(input_text__icontains=text) | Q(output_text__icontains=text) | Q(error_raw__icontains=text)
    return {"input_text": Cast("input", TextField()), "output_text": Cast("output", TextField())}, found


def job_text_filter(qs, q: str):
    texts, found = job_text_match(q)
    return qs.annotate(**texts).filter(found)


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


# A job's page lists at most this many earlier and this many later attempts around it.
ATTEMPTS_SHOWN = 20
ATTEMPT_COLUMNS = ("id", "parent_id", "runpod_id", "status", "mode", "streaming", "created_at", "endpoint__name")


@dataclass
class Attempt:
    job: Job
    depth: int = 0  # for later attempts: 1 for a child of the job, 2 for a grandchild, ...


@dataclass
class Attempts:
    """A job's chain of attempts: the jobs it came from (oldest first) and the ones made from it (as a tree)."""

    earlier: list[Job]
    later: list[Attempt]
    more_earlier: bool = False  # the chain goes back further than ATTEMPTS_SHOWN
    more_later: bool = False

    def __bool__(self):
        return bool(self.earlier or self.later)


def _attempt_rows():
    return Job.objects.select_related("endpoint").only(*ATTEMPT_COLUMNS)


def job_attempts(job, *, limit=ATTEMPTS_SHOWN) -> Attempts:
    """The attempts before and after a job, each side bounded by limit.

    1. Earlier: follow parent links up, one indexed read per step (a chain is short; ids are never cyclic as a
       parent always exists before its child).
    2. Later: read children level by level (one query per generation), at most limit in all.
    3. Order the later ones as a tree (each followed by its own later attempts), oldest first.
    """
    earlier, parent_id, seen = [], job.parent_id, {job.pk}
    while parent_id is not None and len(earlier) < limit and parent_id not in seen:
        parent = _attempt_rows().filter(pk=parent_id).first()
        if parent is None:
            break
        earlier.append(parent)
        seen.add(parent.pk)
        parent_id = parent.parent_id
    more_earlier = parent_id is not None and len(earlier) >= limit
    children, frontier, more_later = {}, [job.pk], False
    count = 0
    while frontier and count < limit:
        rows = list(_attempt_rows().filter(parent_id__in=frontier).order_by("created_at", "id")[: limit - count + 1])
        more_later = len(rows) > limit - count
        rows = rows[: limit - count]
        count += len(rows)
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        frontier = [row.pk for row in rows]
    if frontier and not more_later:
        more_later = _attempt_rows().filter(parent_id__in=frontier).exists()
    return Attempts(earlier[::-1], _tree(children, job.pk), more_earlier, more_later)


def _tree(children, root_id) -> list[Attempt]:
    """Depth-first from the root, so each attempt is followed by the ones made from it."""
    ordered, stack = [], [(child, 1) for child in reversed(children.get(root_id, []))]
    while stack:
        row, depth = stack.pop()
        ordered.append(Attempt(row, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(row.pk, [])))
    return ordered


def job_by_reference(reference: str) -> list[Job]:
    """The jobs a person means by a reference: the dashboard's job number (as in its URL) or a RunPod job id.
    At most two come back, so a RunPod id on several endpoints can be told apart from a unique one."""
    reference = reference.strip()
    if reference.isascii() and reference.isdigit() and len(reference) <= 18:
        found = list(Job.objects.filter(pk=int(reference)).values_list("pk", flat=True))
        if found:
            return [job_detail(found[0])]
    if not reference or len(reference) > RUNPOD_ID_MAX_LENGTH:
        return []
    ids = list(Job.objects.filter(runpod_id=reference).order_by("-created_at", "-id").values_list("pk", flat=True)[:2])
    return [job_detail(pk) for pk in ids]
