"""An endpoint's page (figures, charts over a chosen window, recent jobs, submit form) and its purge."""

from datetime import timedelta

from django.core.cache import cache
from django.http import Http404
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.charts import WORKER_STATES
from dashboard.forms import PurgeForm, SubmitForm, TrackForm
from jobs import selectors, services
from jobs.models import Endpoint

from .common import can_operate, client_ip, operator_required, render_page, wants_partial
from .context import OVERVIEW_REFRESH_SECONDS, table_context

WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_WINDOW = "1h"
CHART_POINTS = 120
# Windows with buckets this wide or wider are cached (see window_series).
LONG_BUCKET_SECONDS = 120
CHART_CACHE_SECONDS = 300
RECENT_JOBS = 10
QUEUE_SERIES = [("jobs_in_queue", "In queue", "queue"), ("jobs_in_progress", "In progress", "progress")]
WORKER_SERIES = [(key, label, css) for key, label, css in WORKER_STATES]
THROUGHPUT_SERIES = [("completed", "Completed", "completed")]
FAILURE_SERIES = [("failed", "Failed or timed out", "failed"), ("cancelled", "Cancelled", "cancelled")]


def _endpoint_or_404(pk, now):
    try:
        return selectors.endpoint_summary(pk, now)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None


def window_series(endpoint, window_name, now):
    """Health and throughput buckets over the window.

    A long window reads up to a week of snapshots and finished jobs; its buckets are minutes or hours wide, so
    the result is kept in the cache for up to five minutes (never longer than a bucket).
    """
    window = WINDOWS[window_name]
    bucket = selectors.bucket_seconds(window, CHART_POINTS)

    def read():
        since = now - window
        return (
            selectors.health_series(endpoint, since=since, until=now, points=CHART_POINTS),
            selectors.throughput_series(endpoint, since=since, until=now, points=CHART_POINTS),
        )

    if bucket < LONG_BUCKET_SECONDS:
        return read()
    ttl = min(bucket, CHART_CACHE_SECONDS)
    key = f"dashboard:charts:{endpoint.pk}:{window_name}:{int(now.timestamp() // ttl)}"
    return cache.get_or_set(key, read, ttl)


def chart_context(endpoint, window_name, now):
    """The four charts over the window, and how often they are worth refreshing (one bucket)."""
    health, finished = window_series(endpoint, window_name, now)
    bucket = selectors.bucket_seconds(WINDOWS[window_name], CHART_POINTS)
    totals = {key: sum(b.values[key] for b in finished) for key in ("completed", "failed", "cancelled")}
    return {
        "window": window_name,
        "windows": list(WINDOWS),
        "health_series": health,
        "finished_series": finished,
        "window_totals": totals,
        "bucket_seconds": bucket,
        "chart_refresh_seconds": max(10, bucket),
        "queue_series": QUEUE_SERIES,
        "worker_series": WORKER_SERIES,
        "throughput_series": THROUGHPUT_SERIES,
        "failure_series": FAILURE_SERIES,
    }


def _window(request):
    window = request.GET.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


@require_GET
def endpoint_detail(request, pk):
    now = timezone.now()
    summary = _endpoint_or_404(pk, now)
    endpoint = summary.endpoint
    context = {
        "summary": summary,
        "endpoint": endpoint,
        "now": now,
        "refresh_seconds": OVERVIEW_REFRESH_SECONDS,
        **chart_context(endpoint, _window(request), now),
    }
    if request.htmx and request.htmx.target == "charts":
        return render_page(request, "dashboard/endpoint.html", context, partial="charts")
    recent = selectors.job_list(selectors.JobFilters(endpoint_id=endpoint.pk), limit=RECENT_JOBS)
    context.update(table_context(recent.jobs, filter_query=f"endpoint={endpoint.pk}"))
    if can_operate(request.user):
        enabled = list(selectors.endpoints_enabled())
        context["submit_form"] = SubmitForm(endpoint=endpoint, endpoints=enabled)
        context["track_form"] = TrackForm(endpoint=endpoint, endpoints=enabled)
    return render_page(request, "dashboard/endpoint.html", context)


@require_GET
def endpoint_stats_hx(request, pk):
    if not wants_partial(request):
        return endpoint_detail(request, pk)  # a deep link or reload gets the page the partial belongs to
    now = timezone.now()
    context = {"summary": _endpoint_or_404(pk, now), "now": now, "refresh_seconds": OVERVIEW_REFRESH_SECONDS}
    return render_page(request, "dashboard/endpoint.html", context, partial="stats")


@require_http_methods(["GET", "POST"])
@operator_required("purge")
def endpoint_purge(request, pk):
    """GET: what a purge would remove and a typed confirmation; POST: purge, then RunPod's count."""
    try:
        endpoint = selectors.endpoint_get(pk)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None
    context = {"endpoint": endpoint, "form": PurgeForm(endpoint=endpoint), "removed": None}
    status = 200
    if request.method == "POST":
        form = PurgeForm(request.POST, endpoint=endpoint)
        context["form"] = form
        if form.is_valid():
            try:
                context["removed"] = services.endpoint_purge_queue(
                    endpoint=endpoint, user=request.user, remote_addr=client_ip(request)
                )
                context["form"] = PurgeForm(endpoint=endpoint)
            except services.ActionError as exc:
                context["error"] = str(exc)
                status = 502
        else:
            status = 422
    context["queued"] = selectors.endpoint_queued(endpoint)
    return render_page(request, "dashboard/purge.html", context, partial="panel", status=status)
