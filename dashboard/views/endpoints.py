"""An endpoint's page (figures, charts over a chosen window, recent jobs, submit form) and its purge."""

from datetime import timedelta

from django.core.cache import cache
from django.http import Http404
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import charts
from dashboard.forms import PurgeForm, SubmitForm, TrackForm
from jobs import selectors, services
from jobs.models import Endpoint

from .common import can_operate, client_ip, operator_required, render_page, wants_partial
from .context import OVERVIEW_REFRESH_SECONDS, price_context, table_context

WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_WINDOW = "1h"
CHART_POINTS = 120
# Windows with buckets this wide or wider are redrawn on a timer, at most this often (see chart_context).
LONG_BUCKET_SECONDS = 120
LONG_CHART_SECONDS = 300
RECENT_JOBS = 10
QUEUE_SERIES = [("jobs_in_queue", "In queue", "queue"), ("jobs_in_progress", "In progress", "progress")]
WORKER_SERIES = [(key, label, css) for key, label, css in charts.WORKER_STATES]
THROUGHPUT_SERIES = [("completed", "Completed", "completed")]
FAILURE_SERIES = [("failed", "Failed or timed out", "failed"), ("cancelled", "Cancelled", "cancelled")]


def _endpoint_or_404(pk, now):
    try:
        return selectors.endpoint_summary(pk, now)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None


def window_series(endpoint, window_name, now):
    """Health and throughput buckets over the window, which starts on a bucket boundary (see aligned_window)."""
    _, _, since = charts.aligned_window(now, WINDOWS[window_name], CHART_POINTS)
    return (
        selectors.health_series(endpoint, since=since, until=now, points=CHART_POINTS),
        selectors.throughput_series(endpoint, since=since, until=now, points=CHART_POINTS),
    )


def _draw_charts(endpoint, window_name, now) -> dict:
    health, finished = window_series(endpoint, window_name, now)
    totals = {key: sum(b.values[key] for b in finished) for key in ("completed", "failed", "cancelled")}
    html = "".join(
        str(draw(series, keys, title=title))
        for draw, series, keys, title in (
            (charts.line_chart, health, QUEUE_SERIES, "Queue depth and jobs in progress (peak per bucket)"),
            (charts.stacked_chart, health, WORKER_SERIES, "Workers by state (average per bucket)"),
            (charts.bar_chart, finished, THROUGHPUT_SERIES, "Throughput: jobs completed"),
            (charts.bar_chart, finished, FAILURE_SERIES, "Failures: failed, timed out, cancelled"),
        )
    )
    return {"html": html, "totals": totals, "buckets": len(health)}


def chart_context(summary, window_name, now):
    """The four charts over the window, drawn once per new snapshot or finished job (or bucket) and cached.

    For short windows the key holds the endpoint's newest snapshot, its newest finished job and the current
    bucket, so a request that finds nothing new reads the drawn SVG from the cache; a job archived with a
    finished time older than the newest one shows up when the next bucket starts. Long windows read up to a week
    of rows into buckets minutes or hours wide, so they are redrawn every few minutes instead.
    """
    endpoint = summary.endpoint
    size, slot, _ = charts.aligned_window(now, WINDOWS[window_name], CHART_POINTS)
    if size >= LONG_BUCKET_SECONDS:
        # Minutes-wide buckets over up to a week: redrawn every few minutes, not at every snapshot.
        version = f"every:{int(now.timestamp() // min(size, LONG_CHART_SECONDS))}"
    else:
        newest_finished = selectors.endpoint_newest_finished(endpoint.pk)
        version = (
            f"{getattr(endpoint, 'newest_health_id', None)}:{newest_finished.timestamp() if newest_finished else None}"
        )
    key = f"dashboard:charts:v2:{endpoint.pk}:{window_name}:{version}:{slot}"
    drawn = cache.get(key)
    if drawn is None:
        drawn = _draw_charts(endpoint, window_name, now)
        cache.set(key, drawn, size + 60)
    return {
        "window": window_name,
        "windows": list(WINDOWS),
        # Our own markup, escaped by the chart functions before it went into the cache.
        "charts_html": mark_safe(drawn["html"]),  # noqa: S308
        "chart_buckets": drawn["buckets"],
        "window_totals": drawn["totals"],
        "bucket_seconds": size,
        "chart_refresh_seconds": max(10, size),
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
        **chart_context(summary, _window(request), now),
    }
    if request.htmx and request.htmx.target == "charts":
        return render_page(request, "dashboard/endpoint.html", context, partial="charts")
    context.update(price_context(endpoint, request.user))
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
