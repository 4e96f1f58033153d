"""Costs in Chromium: an admin sets a price on the endpoint's page (a bad one refused, the typed text kept), then
the Cost page's chart and tables, the jobs list's column and filter total, and a running job's cost so far."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import make_endpoint, make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_prices_an_endpoint_and_the_costs_follow(as_user):
    """Price typed over the presets, then the Cost page, the list and a running job show the estimates."""
    now = timezone.now()
    a100 = make_endpoint(name="a100-prod")
    rtx = make_endpoint(name="rtx4090-dev", price_per_second=Decimal("0.00031"))
    alice, bob = make_user(username="alice"), make_user(username="bob")
    for day in range(6):
        for n, (endpoint, user) in enumerate(((a100, alice), (a100, bob), (rtx, bob))):
            make_job(
                endpoint,
                status="COMPLETED",
                execution_ms=(day + 1) * 40_000 + n * 15_000,
                created_at=now - timedelta(days=day, minutes=n),
                submitted_by=user,
            )
    running = make_job(a100, status="IN_PROGRESS", started_at=now - timedelta(minutes=25), submitted_by=alice)

    session = as_user(None)
    page = session.go("/costs/")
    expect(page.locator("#unpriced")).to_contain_text("No price set for a100-prod")
    page.click("#unpriced a")
    expect(page.locator("#price-value")).to_have_text("no price set")
    page.fill("#id_price_per_second", "0,00076")
    page.click("#price button[type=submit]")
    expect(page.locator("#price-error")).to_contain_text("Type a price")
    expect(page.locator("#id_price_per_second")).to_have_value("0,00076")
    session.shot("cost-price-error", full_page=False)
    assert page.locator("#price-presets option").count() >= 8
    page.fill("#id_price_per_second", "0.00076")
    page.click("#price button[type=submit]")
    expect(page.locator("#price-value")).to_have_text("$0.00076/s")
    expect(page.locator("#price .alert.success")).to_have_text("Price saved.")
    session.shot("cost-price-saved", full_page=False)

    page = session.go("/costs/?window=30d")
    expect(page.locator("#unpriced")).to_have_count(0)
    assert page.locator("#cost-report svg rect.bar").count() >= 6
    expect(page.locator("#cost-endpoints")).to_contain_text("$0.00076/s")
    expect(page.locator("#cost-users")).to_contain_text("alice")
    expect(page.locator("#estimate-note")).to_contain_text("cold starts")
    page.click("#cost-report .segmented a:has-text('Last 7d')")
    expect(page).to_have_url(session.base + "/costs/?window=7d")
    expect(page.locator("#cost-days tbody tr")).to_have_count(7)
    session.shot("cost-page", docs_name="costs")

    page = session.go(f"/jobs/?endpoint={a100.pk}")
    expect(page.locator("#cost-filter-total")).to_contain_text("Estimated cost of the matching jobs: $")
    expect(page.locator(f"#job-{running.pk} .c-cost")).to_contain_text("so far")
    session.shot("cost-jobs-list", full_page=False)

    page = session.go(f"/jobs/{running.pk}/")
    # 25 minutes at $0.00076/s: $1.14 and growing.
    expect(page.locator("#job-cost")).to_contain_text("so far")
    expect(page.locator(".cost-note")).to_contain_text("time since it started")
    expect(page.locator(".cost-note .runaway")).to_contain_text("past its executionTimeout")
    session.shot("cost-running-job", full_page=False)
