"""Costs on the pages: the Cost page, a job's cost, the jobs list's column and filter total, and the endpoint's
price, which only admins set (enforced on the server and audited)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import AuditEntry
from tests.factories import make_endpoint, make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(db):
    """A priced endpoint with a finished job, a running one and one without a time, and an unpriced endpoint."""
    now = timezone.now()
    gpu = make_endpoint(name="gpu-a100", price_per_second=Decimal("0.00076"))
    free = make_endpoint(name="unpriced")
    return {
        "gpu": gpu,
        "free": free,
        "done": make_job(gpu, status="COMPLETED", execution_ms=100_000),
        "running": make_job(gpu, status="IN_PROGRESS", started_at=now - timedelta(seconds=1000)),
        "untimed": make_job(gpu, status="FAILED", execution_ms=None),
        "unpriced": make_job(free, status="COMPLETED", execution_ms=5_000),
    }


def text(response) -> str:
    return response.content.decode()


def test_job_page_shows_cost_and_says_it_is_an_estimate(as_viewer, priced):
    """100 s at $0.00076/s: $0.076, with the executionTime x price sentence and what it leaves out."""
    body = text(as_viewer.get(reverse("job_detail", args=[priced["done"].pk])))
    assert "$0.076" in body
    assert "executionTime" in body
    assert "idle time" in body and "cold starts" in body


def test_running_job_shows_its_cost_so_far(as_viewer, priced):
    """A job still running shows elapsed x price, marked so far."""
    body = text(as_viewer.get(reverse("job_detail", args=[priced["running"].pk])))
    assert "so far" in body
    # About 1,000 s at $0.00076/s; a slow run adds a few seconds.
    assert "$0.76" in body or "$0.77" in body


def test_no_price_is_said_and_never_zero(as_viewer, as_admin, priced):
    """A job on an unpriced endpoint reads "no price set", not $0.00; an admin is pointed at where to set it."""
    body = text(as_viewer.get(reverse("job_detail", args=[priced["unpriced"].pk])))
    assert "no price set" in body
    assert "$0.00" not in body
    assert "set it on the endpoint" not in body
    assert "set it on the endpoint" in text(as_admin.get(reverse("job_detail", args=[priced["unpriced"].pk])))


def test_jobs_list_has_a_cost_column(as_viewer, priced):
    """Each row shows its cost, so far for the running one, and a dash with a reason for no price or no time."""
    body = text(as_viewer.get(reverse("job_list")))
    assert "<th" in body and ">Cost</th>" in body
    assert "$0.076" in body
    assert "No price set for this endpoint" in body
    assert "RunPod reported no execution time" in body
    assert "<small>so far</small>" in body


def test_jobs_list_total_follows_the_filter(as_viewer, priced):
    """The filter total (loaded by htmx) adds up the matching jobs; a deep link gets the whole list."""
    url = reverse("job_cost_total_hx")
    body = text(as_viewer.get(url, {"endpoint": priced["gpu"].pk}, **HX))
    assert "Estimated cost of the matching jobs" in body
    assert "so far for 1 running" in body
    only_unpriced = text(as_viewer.get(url, {"endpoint": priced["free"].pk}, **HX))
    assert "no price set" in only_unpriced
    assert "not added up for a text search" in text(as_viewer.get(url, {"q": "prompt"}, **HX))
    assert "<html" in text(as_viewer.get(url, {"endpoint": priced["gpu"].pk}))


def test_cost_page_tables_and_chart(as_viewer, priced):
    """The Cost page: total, per endpoint (price, no price), per person, per day, an SVG chart; links to the jobs."""
    response = as_viewer.get(reverse("costs"), {"window": "7d"})
    body = text(response)
    assert response.status_code == 200
    assert 'id="estimate-note"' in body and "cold starts" in body
    assert "$0.00076/s" in body
    assert "no price set" in body
    assert '<svg class="chart-svg' in body
    assert "gpu-a100" in body and "unpriced" in body
    assert f"endpoint={priced['gpu'].pk}" in body
    assert body.count("<tr") >= 2 + 1 + 7


def test_cost_page_window_partial_and_bad_window(as_viewer, priced):
    """htmx asks for the report alone; an unknown window falls back to the default instead of failing."""
    partial = text(as_viewer.get(reverse("costs"), {"window": "90d"}, **HX))
    assert partial.lstrip().startswith('<div id="cost-report">')
    assert as_viewer.get(reverse("costs"), {"window": "<script>"}).status_code == 200


def test_admin_sets_a_price_from_the_endpoint_page(as_admin, priced):
    """An admin's price is saved, audited with old and new, and the panel comes back with it."""
    endpoint = priced["free"]
    response = as_admin.post(reverse("endpoint_price", args=[endpoint.pk]), {"price_per_second": "0.00031"}, **HX)
    assert response.status_code == 200
    assert "$0.00031/s" in text(response)
    endpoint.refresh_from_db()
    assert endpoint.price_per_second == Decimal("0.00031")
    entry = AuditEntry.objects.get(action="endpoint_change", endpoint=endpoint, outcome="ok")
    assert entry.detail["changes"]["price_per_second"] == {"from": None, "to": "0.00031"}


def test_a_bad_price_keeps_what_was_typed(as_admin, priced):
    """A wrong price: 422, the reason beside the field, the typed text kept, nothing saved."""
    endpoint = priced["gpu"]
    response = as_admin.post(reverse("endpoint_price", args=[endpoint.pk]), {"price_per_second": "-3abc"}, **HX)
    assert response.status_code == 422
    assert 'value="-3abc"' in text(response)
    assert "Type a price" in text(response)
    endpoint.refresh_from_db()
    assert endpoint.price_per_second == Decimal("0.00076")


def test_only_admins_set_prices(as_viewer, as_operator, priced):
    """Viewers and operators see costs but get 403 for a price change, audited as denied; no form is offered."""
    endpoint = priced["gpu"]
    page = text(as_operator.get(reverse("endpoint_detail", args=[endpoint.pk])))
    assert "$0.00076/s" in page
    assert 'name="price_per_second"' not in page
    for client in (as_viewer, as_operator):
        response = client.post(reverse("endpoint_price", args=[endpoint.pk]), {"price_per_second": "9"})
        assert response.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.price_per_second == Decimal("0.00076")
    assert AuditEntry.objects.filter(action="endpoint_change", outcome="denied").count() == 2


def test_endpoint_page_offers_admins_the_presets(as_admin, priced):
    """The admin's form lists the presets to pick from and type over, labelled to be checked against the bill."""
    page = text(as_admin.get(reverse("endpoint_detail", args=[priced["gpu"].pk])))
    assert 'list="price-presets"' in page
    assert '<option value="0.00076">80 GB (A100)</option>' in page
    assert "check them against your RunPod bill" in page


def test_price_page_works_without_javascript(as_admin, priced):
    """Without htmx the price form has a page of its own, and a post answers with that whole page."""
    url = reverse("endpoint_price", args=[priced["gpu"].pk])
    assert "<html" in text(as_admin.get(url))
    response = as_admin.post(url, {"price_per_second": ""})
    assert response.status_code == 200
    assert "<html" in text(response)
    priced["gpu"].refresh_from_db()
    assert priced["gpu"].price_per_second is None


def test_the_live_part_of_a_running_job_refreshes_its_cost_so_far(as_viewer, priced):
    """The self-refreshing part of the job page carries the cost, so a runaway job's cost grows on screen."""
    response = as_viewer.get(reverse("job_live_hx", args=[priced["running"].pk]), **HX)
    assert 'id="job-cost"' in text(response)
    assert "so far" in text(response)


def test_a_runaway_job_says_it_is_past_its_timeout(as_viewer, priced):
    """Running longer than its executionTimeout (RunPod's 10 min default here): the page says it is still billed."""
    body = text(as_viewer.get(reverse("job_detail", args=[priced["running"].pk])))
    assert "Still running past its executionTimeout (10 min 00 s)" in body
    short = make_job(priced["gpu"], status="IN_PROGRESS", started_at=timezone.now() - timedelta(seconds=30))
    assert "past its executionTimeout" not in text(as_viewer.get(reverse("job_detail", args=[short.pk])))


def test_the_chart_draws_six_endpoints_and_sums_the_rest_as_other(db):
    """Eight priced endpoints: the five most expensive in their own colour, the other three as one series whose
    legend amount is their sum; every day of the window has a hover band."""
    from dashboard import charts
    from jobs import selectors

    now = timezone.now()
    for n in range(8):
        endpoint = make_endpoint(name=f"gpu-{n}", price_per_second=Decimal("0.001"))
        make_job(endpoint, status="COMPLETED", execution_ms=(n + 1) * 1000, created_at=now - timedelta(hours=1))
    since, until = selectors.cost_window("7d", now)
    html = str(charts.cost_chart(selectors.cost_summary(since=since, until=until, now=now)))
    assert html.count('<i class="sw c-s') == 6
    assert "Other endpoints <b>$0.006</b>" in html  # gpu-0..2: 1 + 2 + 3 s at $0.001/s
    assert "gpu-7 <b>$0.008</b>" in html
    assert html.count('class="band"') == 7
