"""The overview and endpoint pages: figures from snapshots and the last hour, warnings, charts, queries."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import HealthSnapshot
from tests.factories import make_endpoint, make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


def snapshot(endpoint, *, seconds_ago=5, **fields):
    return HealthSnapshot.objects.create(
        endpoint=endpoint, taken_at=timezone.now() - timedelta(seconds=seconds_ago), **fields
    )


def finished(endpoint, status, *, minutes_ago=10, delay=1000, execution=2000):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return make_job(endpoint, status=status, finished_at=at, delay_ms=delay, execution_ms=execution)


def test_login_is_required_for_the_overview(client):
    """An anonymous visitor is sent to the login page."""
    response = client.get(reverse("overview"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_overview_shows_each_endpoint_from_its_newest_snapshot(as_viewer):
    """Queue depth and workers come from the newest snapshot, not an older one."""
    endpoint = make_endpoint(name="sdxl")
    snapshot(endpoint, seconds_ago=50, jobs_in_queue=99)
    snapshot(endpoint, seconds_ago=5, jobs_in_queue=17, jobs_in_progress=3, workers_running=3, workers_idle=2)
    response = as_viewer.get(reverse("overview"))
    assert response.status_code == 200
    card = response.context["summaries"][0]
    assert card.health.jobs_in_queue == 17
    html = response.content.decode()
    assert "sdxl" in html and ">17<" in html
    assert "Running <b>3</b>" in html and "Idle <b>2</b>" in html


def test_overview_counts_the_last_hour_and_its_percentiles(as_viewer):
    """Completed and failed count only jobs finished in the last hour; percentiles use their timings."""
    endpoint = make_endpoint()
    for delay in (1000, 2000, 3000):
        finished(endpoint, "COMPLETED", delay=delay)
    finished(endpoint, "FAILED")
    finished(endpoint, "TIMED_OUT")
    finished(endpoint, "COMPLETED", minutes_ago=90)
    summary = as_viewer.get(reverse("overview")).context["summaries"][0]
    assert (summary.last_hour.completed, summary.last_hour.failed) == (3, 2)
    assert summary.last_hour.delay.p50 == 1000
    assert summary.last_hour.delay.p99 == pytest.approx(2960)


def test_overview_warns_when_the_key_is_refused(as_viewer):
    """An endpoint whose key RunPod refused says so and is marked as a problem."""
    endpoint = make_endpoint(name="bad-key")
    endpoint.auth_failed_at = timezone.now()
    endpoint.save()
    response = as_viewer.get(reverse("overview"))
    assert "refuses this endpoint&#x27;s API key" in response.content.decode()
    assert response.context["summaries"][0].state == "error"


def test_overview_warns_when_polling_is_behind(as_viewer):
    """A job overdue by more than half a minute means the poller is not keeping up."""
    endpoint = make_endpoint()
    snapshot(endpoint)
    make_job(endpoint, status="IN_PROGRESS", next_poll_at=timezone.now() - timedelta(minutes=2))
    response = as_viewer.get(reverse("overview"))
    assert "Polling is behind" in response.content.decode()
    assert response.context["summaries"][0].state == "warn"


def test_overview_warns_when_snapshots_are_stale(as_viewer):
    """No snapshot for minutes means the worker or beat is down."""
    endpoint = make_endpoint()
    snapshot(endpoint, seconds_ago=600)
    assert "stale" in as_viewer.get(reverse("overview")).content.decode()


def test_overview_partial_polls_itself_while_visible(as_viewer):
    """The htmx partial is only the grid, and it carries its own refresh trigger."""
    make_endpoint()
    response = as_viewer.get(reverse("overview_hx"), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="overview-live"' in html and "data-live" in html and "every 5s," in html


def test_overview_draws_a_chart_per_endpoint(as_viewer):
    """Each card has an SVG of queue depth and workers with a hover title per bucket."""
    endpoint = make_endpoint()
    for seconds in range(10, 600, 10):
        snapshot(endpoint, seconds_ago=seconds, jobs_in_queue=seconds % 7, workers_running=1)
    html = as_viewer.get(reverse("overview")).content.decode()
    assert html.count('<svg class="chart-svg chart-compact"') == 1
    assert 'class="line c-queue"' in html and "<title>" in html


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_overview_queries_do_not_grow_with_endpoints_jobs_or_snapshots(as_viewer):
    """No N+1: three times the endpoints, jobs and snapshots take the same number of queries."""

    def add(n):
        for _ in range(n):
            endpoint = make_endpoint()
            snapshot(endpoint, jobs_in_queue=1)
            snapshot(endpoint, seconds_ago=30)
            finished(endpoint, "COMPLETED")
            make_job(endpoint, status="IN_PROGRESS", next_poll_at=timezone.now())

    add(2)
    few = _count_queries(as_viewer, reverse("overview"))
    add(4)
    assert _count_queries(as_viewer, reverse("overview")) == few


def test_endpoint_page_shows_charts_recent_jobs_and_figures(as_viewer):
    """The endpoint page has the four charts, the recent jobs and the newest figures."""
    endpoint = make_endpoint(name="llama")
    snapshot(endpoint, jobs_in_queue=4)
    job = finished(endpoint, "COMPLETED", minutes_ago=3)
    response = as_viewer.get(reverse("endpoint_detail", args=[endpoint.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="chart-svg chart-large"') == 4
    assert job.runpod_id in html
    assert "Throughput" in html and "Workers by state" in html


@pytest.mark.parametrize("window", ["15m", "1h", "6h", "24h", "7d"])
def test_endpoint_charts_follow_the_chosen_window(as_viewer, window):
    """Each window renders, with at most about 120 buckets per chart."""
    endpoint = make_endpoint()
    snapshot(endpoint)
    response = as_viewer.get(reverse("endpoint_detail", args=[endpoint.pk]), {"window": window})
    assert response.context["window"] == window
    assert response.context["chart_buckets"] <= 122


def test_endpoint_charts_partial_is_swapped_alone(as_viewer):
    """Choosing a window through htmx returns only the charts section."""
    endpoint = make_endpoint()
    url = reverse("endpoint_detail", args=[endpoint.pk])
    response = as_viewer.get(url, {"window": "6h"}, HTTP_HX_TARGET="charts", **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="charts"') and "Recent jobs" not in html


@pytest.mark.parametrize("name", ["overview_hx", "endpoint_stats_hx"])
def test_partials_opened_without_htmx_show_their_page(as_viewer, name):
    """A bookmarked or reloaded partial URL gives the whole page it belongs to."""
    endpoint = make_endpoint()
    args = [endpoint.pk] if name == "endpoint_stats_hx" else []
    response = as_viewer.get(reverse(name, args=args))
    assert response.status_code == 200 and "<html" in response.content.decode()


def test_endpoint_page_of_an_unknown_endpoint_is_404(as_viewer):
    """A wrong id gives the not-found page."""
    assert as_viewer.get(reverse("endpoint_detail", args=[9999])).status_code == 404


def test_endpoint_stats_partial_refreshes_itself(as_viewer):
    """The stats partial carries its poll trigger."""
    endpoint = make_endpoint()
    html = as_viewer.get(reverse("endpoint_stats_hx", args=[endpoint.pk]), **HX).content.decode()
    assert 'id="endpoint-stats"' in html and "data-live" in html


def test_endpoint_page_queries_do_not_grow_with_history(as_viewer):
    """A week of snapshots and many jobs take no more queries than a few."""
    endpoint = make_endpoint()
    url = reverse("endpoint_detail", args=[endpoint.pk]) + "?window=7d"
    snapshot(endpoint)
    finished(endpoint, "COMPLETED")
    few = _count_queries(as_viewer, url)
    assert _count_queries(as_viewer, url) < few  # the second read of a long window comes from the cache
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(endpoint=endpoint, taken_at=timezone.now() - timedelta(minutes=7 * i)) for i in range(1, 1400)
    )
    for _ in range(30):
        finished(endpoint, "FAILED", minutes_ago=30)
    cache.clear()  # long windows are cached; count the queries of a fresh read
    assert _count_queries(as_viewer, url) == few
