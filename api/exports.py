"""CSV and NDJSON exports of a filtered jobs list, streamed in keyset batches so memory stays flat at any size."""

import csv
import json
from datetime import datetime

from django.http import StreamingHttpResponse
from django.utils import timezone

from jobs import selectors
from jobs.costs import job_cost, price_text

BATCH = 1000
COLUMNS = (
    ("id", "the dashboard's job id"),
    ("runpod_id", "RunPod's job id (empty until sent)"),
    ("endpoint_id", "the endpoint's id"),
    ("endpoint", "the endpoint's name"),
    ("status", "the status as last read"),
    ("mode", "run or runsync"),
    ("streaming", "true when read through /stream"),
    ("tracked", "true when submitted elsewhere and tracked by id"),
    ("created_at", "ISO 8601, UTC"),
    ("finished_at", "ISO 8601, UTC; empty while running"),
    ("delay_ms", "time in RunPod's queue"),
    ("execution_ms", "time on a worker"),
    ("submitted_by", "username; empty for tracked or system jobs"),
    (
        "cost_usd",
        "estimated cost in US dollars, executionTime x the endpoint's price per second (idle and cold-start time "
        "RunPod also bills left out); empty without a price or an execution time",
    ),
    ("cost_so_far", "true while the job runs: cost_usd is the time since it started x the price"),
    ("expired", "true when RunPod dropped the job before it was archived here"),
    ("input_preview", "the first 160 characters of the input as JSON"),
)
COLUMNS_DOC = (
    "Columns, in order: "
    + "; ".join(f"`{name}`: {text}" for name, text in COLUMNS)
    + ". In CSV, a text cell starting with =, +, -, @, tab or carriage return is prefixed with ' so a"
    " spreadsheet shows it as text instead of running it as a formula; NDJSON values are exact."
)
# What spreadsheets read as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_rows(filters: selectors.JobFilters):
    """Every matching job, newest first, as dicts of COLUMNS, reading BATCH rows per query through the same
    selector as the jobs page (keyset pages; a text search moves on window by window)."""
    cursor = None
    while True:
        page = selectors.job_list(filters, after=cursor, limit=BATCH)
        now = timezone.now()
        for job in page.jobs:
            cost = job_cost(job, now=now)
            yield {
                "id": job.pk,
                "runpod_id": job.runpod_id or "",
                "endpoint_id": job.endpoint.pk,
                "endpoint": job.endpoint.name,
                "status": job.status,
                "mode": job.mode,
                "streaming": job.streaming,
                "tracked": job.tracked,
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "delay_ms": job.delay_ms,
                "execution_ms": job.execution_ms,
                "submitted_by": job.submitted_by.username if job.submitted_by else "",
                # A string, so NDJSON keeps every digit (a JSON number would be read as a float).
                "cost_usd": price_text(cost.amount),
                "cost_so_far": cost.so_far,
                "expired": job.expired,
                "input_preview": job.input_preview or "",
            }
        following = page.older or page.scan_more
        if following is None or page.search == "id":
            return
        cursor = selectors.Cursor.decode(following)


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Line:
    """csv.writer writes into this; each row comes back as one string to stream."""

    def write(self, text):
        return text


def csv_lines(rows):
    writer = csv.writer(_Line())
    yield writer.writerow([name for name, _ in COLUMNS])
    for row in rows:
        yield writer.writerow([csv_cell(row[name]) for name, _ in COLUMNS])


def ndjson_lines(rows):
    for row in rows:
        yield json.dumps(row, default=_json_default, ensure_ascii=False) + "\n"


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def export_response(filters: selectors.JobFilters, fmt: str) -> StreamingHttpResponse:
    rows = export_rows(filters)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "ndjson":
        response = StreamingHttpResponse(ndjson_lines(rows), content_type="application/x-ndjson")
    else:
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="jobs-{stamp}.{fmt}"'
    # Proxies must not hold the whole export back before sending it on.
    response["X-Accel-Buffering"] = "no"
    return response
