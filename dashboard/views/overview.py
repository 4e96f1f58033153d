"""The overview: every endpoint on one screen, refreshed as a whole every few seconds while visible."""

from dataclasses import dataclass

from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors

from .common import render_page, wants_partial
from .context import OVERVIEW_REFRESH_SECONDS

SPARK_SERIES = [("jobs_in_queue", "In queue", "queue"), ("workers", "Workers", "workers")]


@dataclass
class Totals:
    endpoints: int = 0
    queued: int = 0
    in_progress: int = 0
    workers_running: int = 0
    workers: int = 0
    completed: int = 0
    failed: int = 0
    warnings: int = 0


def overview_totals(summaries) -> Totals:
    totals = Totals(endpoints=len(summaries))
    for summary in summaries:
        if summary.health is not None:
            totals.queued += summary.health.jobs_in_queue
            totals.in_progress += summary.health.jobs_in_progress
            totals.workers_running += summary.health.workers_running
            totals.workers += summary.health.workers_total
        totals.completed += summary.last_hour.completed
        totals.failed += summary.last_hour.failed
        totals.warnings += summary.state != "ok"
    return totals


def overview_context():
    now = timezone.now()
    summaries = selectors.overview_endpoints(now)
    return {
        "summaries": summaries,
        "totals": overview_totals(summaries),
        "now": now,
        "refresh_seconds": OVERVIEW_REFRESH_SECONDS,
        "spark_series": SPARK_SERIES,
    }


@require_GET
def overview(request):
    return render_page(request, "dashboard/overview.html", overview_context())


@require_GET
def overview_hx(request):
    if not wants_partial(request):
        return overview(request)
    return render_page(request, "dashboard/overview.html", overview_context(), partial="grid")
