"""The job list (filters in the URL, keyset pages, live rows) and a job's page with its live parts."""

import json
import re

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from dashboard.forms import JobFilterForm
from jobs import selectors
from jobs.constants import JOB_IDS_PER_REQUEST

from .common import render_page, wants_partial
from .context import is_settled, job_or_404, live_context, save_bar_context, table_context

PAGE_SIZE = 50
STREAM_SECONDS = 1
# A finished job's page shows this many chunks at first; "show more" reads the rest in batches.
CHUNKS_FIRST = 500
CHUNKS_BATCH = 200
JSON_PARTS = ("input", "output", "progress", "error", "raw", "stream")


def _filter_form(request, users, endpoints=()):
    return JobFilterForm(request.GET or None, users=users, endpoints=endpoints)


def _filter_query(request) -> str:
    """The filters of the current URL without paging, for links and the row refresher."""
    query = request.GET.copy()
    for key in ("after", "before", "ids", "top", "compact"):
        query.pop(key, None)
    return query.urlencode()


@require_GET
def job_list(request):
    users = selectors.users_for_filter()
    form = _filter_form(request, users, selectors.endpoint_options())
    filters = form.filters()
    after = selectors.Cursor.decode(request.GET.get("after"))
    before = selectors.Cursor.decode(request.GET.get("before"))
    page = selectors.job_list(filters, after=after, before=before, limit=PAGE_SIZE)
    first_page = after is None and before is None and not page.search
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "scan_limit": selectors.TEXT_SEARCH_SCAN,
        **save_bar_context(request, form),
        **table_context(page.jobs, filter_query=_filter_query(request), first_page=first_page),
        # Rows carry a checkbox of the compare form.
        "selectable": True,
    }
    return render_page(request, "dashboard/jobs.html", context, partial="results")


def _ids(request) -> list[int]:
    raw = ",".join(request.GET.getlist("ids"))
    # ASCII digits only ("²".isdigit() is true), and short enough for a 64-bit id column.
    return [int(part) for part in raw.split(",") if part.isascii() and part.isdigit() and len(part) <= 18][
        :JOB_IDS_PER_REQUEST
    ]


@require_GET
def job_rows_hx(request):
    """The page's active rows re-rendered (swapped in place out of band), and a count of newer jobs."""
    if not wants_partial(request):
        return job_list(request)  # a deep link or reload gets the list the rows belong to
    jobs = selectors.job_rows(_ids(request))
    newer = 0
    top = selectors.Cursor.decode(request.GET.get("top"))
    if top is not None:
        filters = _filter_form(request, selectors.users_for_filter()).filters()
        newer = selectors.job_newer_count(filters, top)
    context = {
        **table_context(jobs, filter_query=_filter_query(request), first_page=False),
        "newer": newer,
        "top": request.GET.get("top", ""),
        "hide_endpoint": request.GET.get("compact") == "1",
        # Only the jobs list has the compare form; the endpoint page's compact table has none.
        "selectable": request.GET.get("compact") != "1",
    }
    return render_page(request, "dashboard/jobs.html", context, partial="rows_update")


def stream_context(job, *, after=-1, limit=CHUNKS_FIRST) -> dict:
    chunks = selectors.job_chunks(job, after=after, limit=limit) if job.streaming else []
    last_seq = chunks[-1].seq if chunks else after
    return {
        "job": job,
        "chunks": chunks,
        "last_seq": last_seq,
        # More chunks are stored than we sent (stream_seq is the next seq the poller will write).
        "more_stored": job.stream_seq > last_seq + 1,
        "settled": is_settled(job),
        "stream_seconds": STREAM_SECONDS,
    }


@require_GET
def job_detail(request, pk):
    job = job_or_404(pk)
    context = {**live_context(job), **stream_context(job), "attempts": selectors.job_attempts(job)}
    return render_page(request, "dashboard/job.html", context)


@require_GET
def job_live_hx(request, pk):
    if not wants_partial(request):
        return job_detail(request, pk)  # a deep link or reload gets the page the part belongs to
    job = job_or_404(pk)
    return render_page(request, "dashboard/job.html", live_context(job), partial="live_update")


@require_GET
def job_stream_hx(request, pk):
    """Chunks after ?after=N, appended to the page's list, and the poller that asks for the next ones."""
    if not wants_partial(request):
        return job_detail(request, pk)
    job = job_or_404(pk)
    try:
        after = int(request.GET.get("after", "-1"))
    except ValueError:
        after = -1
    return render_page(
        request, "dashboard/job.html", stream_context(job, after=after, limit=CHUNKS_BATCH), partial="stream_update"
    )


def _safe_name(text) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:120] or "job"


def _part_value(job, part):
    if part == "error":
        return job.error if job.error is not None else job.error_raw
    if part == "raw":
        return job.last_raw
    return getattr(job, part)


def _stream_json(job):
    yield "["
    for n, output in enumerate(selectors.job_chunk_outputs(job)):
        yield ("," if n else "") + json.dumps(output, ensure_ascii=False)
    yield "]"


@require_GET
def job_json(request, pk, part):
    """Input, output, progress, error, the raw status object or the stream, as a .json download."""
    if part not in JSON_PARTS:
        raise Http404("No such part.")
    job = job_or_404(pk)
    filename = f"{_safe_name(job.runpod_id or f'job-{job.pk}')}-{part}.json"
    if part == "stream":
        response = StreamingHttpResponse(_stream_json(job), content_type="application/json")
    else:
        body = json.dumps(_part_value(job, part), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
