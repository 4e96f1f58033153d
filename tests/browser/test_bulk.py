"""Bulk actions in Chromium with a real worker: the dry run from the list's filter, the typed confirmation, the
live progress, and a stop."""

import pytest
from playwright.sync_api import expect

from jobs import selectors, services
from jobs.models import BulkAction, BulkItem, Job
from tests.factories import make_job, make_sim_jobs

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_operator_cancels_every_job_a_filter_matches(as_user, live_endpoint, celery_worker, settings):
    """From the filtered list to a dry run, a typed count, and live progress until every queued job is cancelled."""
    settings.BULK_CONFIRM_THRESHOLD = 5
    jobs = make_sim_jobs(live_endpoint, 8)
    make_job(live_endpoint, status="COMPLETED", runpod_id="done-already")
    session = as_user("Operators")
    page = session.go(f"/jobs/?endpoint={live_endpoint.pk}")
    page.click("#bulk-link")
    expect(page.locator("[data-figure=total]")).to_have_text("9")
    expect(page.locator("[data-figure=acted]")).to_have_text("8")
    expect(page.locator(".bulk-outcomes")).to_contain_text("Skipped: already finished (COMPLETED)")
    page.check("input[name=kind][value=retry]")
    expect(page.locator("[data-figure=acted]")).to_have_text("0")
    page.check("input[name=kind][value=cancel]")
    expect(page.locator("[data-figure=acted]")).to_have_text("8")
    button = page.locator("#bulk-form button[type=submit]")
    expect(button).to_be_disabled()
    page.fill("#id_confirm", "9")
    expect(button).to_be_enabled()
    session.shot("bulk-dry-run")
    button.click()
    expect(page.locator("#bulk-progress")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("[data-count=done]")).to_have_text("8")
    expect(page.locator("[data-count=skipped]")).to_have_text("1")
    expect(page.locator(".bulk-reasons")).to_contain_text("already finished (COMPLETED)")
    session.shot("bulk-done")
    assert Job.objects.filter(pk__in=[j.pk for j in jobs], status="CANCELLED").count() == 8


def test_a_running_batch_can_be_stopped_from_its_page(as_user, live_endpoint, celery_worker, operator):
    """A batch longer than one rate window shows its progress live and stops when asked, leaving the rest."""
    make_sim_jobs(live_endpoint, 120)
    bulk = services.bulk_start(
        kind="cancel", filters=selectors.JobFilters(endpoint_id=live_endpoint.pk), confirm="120", user=operator
    )
    session = as_user("Operators")
    page = session.go(f"/jobs/bulk/{bulk.pk}/")
    # 90 go in the first rate window; the rest wait for it, which leaves time to stop.
    expect(page.locator("[data-count=done]")).not_to_have_text("0", timeout=30_000)
    session.shot("bulk-running")
    page.click("[data-action=stop]")
    expect(page.locator("#bulk-progress")).to_have_attribute("data-state", "stopped", timeout=30_000)
    left = int(page.locator("[data-count=left]").inner_text())
    assert left > 0 and BulkAction.objects.get(pk=bulk.pk).stop_requested_by.startswith("operators-")
    untouched = Job.objects.filter(pk__in=BulkItem.objects.filter(bulk=bulk, state="pending").values("job_id"))
    assert untouched.count() == left and not untouched.filter(status="CANCELLED").exists()
    session.shot("bulk-stopped")
