"""The whole app live in Chromium: the pages, a real Celery worker with its beat, and the simulator.

Each test watches a page change by itself (htmx polling) without reloading it.
"""

import re

import pytest
from playwright.sync_api import expect

from jobs import services
from jobs.models import AuditEntry, HealthSnapshot, Job
from tests.utils import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Records every status the job page shows and every chunk count the stream list reaches, across htmx swaps.
WATCH_SCRIPT = """
window.__seen = {statuses: [], chunks: []};
window.__notReloaded = true;
const note = () => {
  const live = document.getElementById("job-live");
  const status = live && live.dataset.status;
  const seen = window.__seen;
  if (status && seen.statuses[seen.statuses.length - 1] !== status) seen.statuses.push(status);
  const count = document.querySelectorAll("#stream-chunks li").length;
  if (seen.chunks[seen.chunks.length - 1] !== count) seen.chunks.push(count);
};
note();
new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true});
"""


def watch(page):
    page.evaluate(WATCH_SCRIPT)


def seen(page):
    return page.evaluate("window.__seen")


def submit_through_the_form(page, endpoint, text, mode="async"):
    page.select_option("#id_endpoint", str(endpoint.pk))
    page.fill("#id_input", text)
    page.check(f"input[name=mode][value={mode}]")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    return Job.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))


def test_a_submitted_job_goes_from_queue_to_completed_without_reloading(as_user, live_endpoint, celery_worker):
    """Submit through the form, then watch IN_QUEUE → IN_PROGRESS → COMPLETED appear on the job page."""
    session = as_user("Operators")
    page = session.go("/jobs/new/")
    job = submit_through_the_form(page, live_endpoint, '{"simulate": {"seconds": 4}, "prompt": "watch me"}')
    watch(page)
    expect(page.locator("#job-live")).to_have_attribute("data-status", "IN_QUEUE", timeout=20_000)
    session.shot("live-job-queued")
    expect(page.locator("#job-live")).to_have_attribute("data-status", "IN_PROGRESS", timeout=20_000)
    expect(page.locator("#job-live")).to_have_attribute("data-status", "COMPLETED", timeout=20_000)
    expect(page.locator("#job-output .json-tree")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Completed")
    statuses = seen(page)["statuses"]
    assert statuses.index("IN_QUEUE") < statuses.index("IN_PROGRESS") < statuses.index("COMPLETED")
    assert page.evaluate("window.__notReloaded") is True
    # Finished: the live part carries no trigger any more, so polling has stopped.
    expect(page.locator("#job-live")).not_to_have_attribute("hx-trigger", re.compile(".+"))
    job.refresh_from_db()
    assert job.status == "COMPLETED" and job.archived
    session.shot("live-job-completed")


def test_stream_chunks_appear_one_by_one_and_stay_for_replay(as_user, live_endpoint, celery_worker):
    """A streaming job's chunks are appended as they arrive, then all of them are there after it ends."""
    session = as_user("Operators")
    page = session.go("/jobs/new/")
    submit_through_the_form(page, live_endpoint, '{"simulate": {"stream": 6, "interval": 1.2}}', mode="stream")
    watch(page)
    expect(page.locator("#stream-chunks li")).to_have_count(6, timeout=40_000)
    counts = seen(page)["chunks"]
    # Several distinct steps between none and all six: the chunks came in as they were produced.
    assert len([c for c in counts if 0 < c < 6]) >= 3, counts
    assert counts == sorted(counts)
    expect(page.locator("#job-live")).to_have_attribute("data-status", "COMPLETED", timeout=20_000)
    session.shot("live-stream")
    page.reload()
    expect(page.locator("#stream-chunks li")).to_have_count(6)
    page.click("[data-stream-replay]")
    expect(page.locator("#stream-chunks li.replay-hidden").first).to_be_attached()
    expect(page.locator("#stream-chunks li.replay-hidden")).to_have_count(0, timeout=10_000)


def test_an_operator_cancels_a_running_job(as_user, live_endpoint, celery_worker):
    """Cancel asks for confirmation, reaches RunPod, and the page shows CANCELLED."""
    session = as_user("Operators")
    page = session.go("/jobs/new/")
    job = submit_through_the_form(page, live_endpoint, '{"simulate": {"seconds": 60}}')
    expect(page.locator("#job-live")).to_have_attribute("data-status", "IN_PROGRESS", timeout=30_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=cancel]")
    expect(page.locator("#job-live .alert.success")).to_contain_text("Cancelled")
    expect(page.locator("#job-live")).to_have_attribute("data-status", "CANCELLED")
    expect(page.locator("[data-action=cancel]")).to_have_count(0)
    assert AuditEntry.objects.filter(action="cancel", outcome="ok", job=job).exists()
    session.shot("live-cancelled")


def test_an_operator_purges_a_queue_with_typed_confirmation(as_user, live_endpoint, celery_worker, sim):
    """The purge page shows the queue, wants the name typed, and reports RunPod's count."""
    sim.add_endpoint(live_endpoint.runpod_id, max_workers=1)
    jobs = [services.job_submit(endpoint=live_endpoint, input={"simulate": {"seconds": 60}}) for _ in range(6)]
    wait_for(
        lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], status="IN_QUEUE").count() >= 4,
        timeout=30,
        message="jobs waiting in the queue",
    )
    wait_for(
        lambda: HealthSnapshot.objects.filter(endpoint=live_endpoint, jobs_in_queue__gte=3).exists(),
        timeout=30,
        message="a snapshot of the queue",
    )
    session = as_user("Operators")
    page = session.go(f"/endpoints/{live_endpoint.pk}/purge/")
    expect(page.locator(".purge-figures")).to_contain_text("Queued at RunPod")
    expect(page.locator("#purge-panel")).to_contain_text("Running jobs are not affected")
    button = page.locator("#purge-panel button[type=submit]")
    expect(button).to_be_disabled()
    page.fill("#id_confirm", live_endpoint.name)
    expect(button).to_be_enabled()
    session.shot("purge-confirm")
    button.click()
    expect(page.locator("#purge-panel .alert.success")).to_contain_text(re.compile(r"RunPod removed \d+ queued job"))
    removed = AuditEntry.objects.get(action="purge", outcome="ok").detail["removed"]
    assert removed >= 3
    expect(page.locator("#purge-panel .alert.success b")).to_have_text(str(removed))
    session.shot("purge-done")


def test_charts_fill_from_health_snapshots(as_user, live_endpoint, celery_worker):
    """With the worker taking snapshots, the overview card and the endpoint charts draw lines."""
    services.job_submit(endpoint=live_endpoint, input={"simulate": {"seconds": 8}})
    wait_for(
        lambda: HealthSnapshot.objects.filter(endpoint=live_endpoint).count() >= 3,
        timeout=30,
        message="three health snapshots",
    )
    session = as_user("Viewers")
    page = session.page
    card = page.locator(f".endpoint-card[data-endpoint='{live_endpoint.name}']")
    expect(card.locator("path.line").first).to_be_attached()
    session.shot("live-overview")
    session.go(f"/endpoints/{live_endpoint.pk}/?window=15m")
    expect(page.locator("#charts svg.chart-svg")).to_have_count(4)
    expect(page.locator("#charts .chart").first.locator("path.line").first).to_be_attached()
    expect(page.locator("#charts polygon.area").first).to_be_attached()
    session.shot("live-endpoint")


def test_job_rows_refresh_themselves_in_the_list(as_user, live_endpoint, celery_worker):
    """An active row in the jobs list changes status in place until the job ends."""
    session = as_user("Operators")
    job = services.job_submit(endpoint=live_endpoint, input={"simulate": {"seconds": 2}})
    page = session.go(f"/jobs/?endpoint={live_endpoint.pk}")
    page.evaluate("window.__notReloaded = true")
    row = page.locator(f"#job-{job.pk}")
    expect(row.locator(".badge")).to_have_text("Completed", timeout=40_000)
    assert page.evaluate("window.__notReloaded") is True


def test_a_viewer_sees_no_destructive_buttons_and_is_refused_anyway(as_user, live_endpoint, celery_worker):
    """A viewer has no cancel, purge or submit buttons, and a forged POST gets 403."""
    job = services.job_submit(endpoint=live_endpoint, input={"simulate": {"seconds": 60}})
    wait_for(lambda: Job.objects.get(pk=job.pk).runpod_id, timeout=20, message="the job sent to RunPod")
    session = as_user("Viewers")
    page = session.go(f"/jobs/{job.pk}/")
    expect(page.locator("#job-live")).to_be_visible()
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.locator("nav.mainnav")).not_to_contain_text("Submit")
    session.go(f"/endpoints/{live_endpoint.pk}/")
    expect(page.get_by_text("Purge queue")).to_have_count(0)
    expect(page.locator("#submit-form")).to_have_count(0)
    session.shot("viewer-endpoint")
    token = session.csrf_token()
    for url, data in [
        (f"/jobs/{job.pk}/cancel/", {}),
        (f"/endpoints/{live_endpoint.pk}/purge/", {"confirm": live_endpoint.name}),
        ("/jobs/new/", {"endpoint": str(live_endpoint.pk), "input": "{}", "mode": "async"}),
    ]:
        response = page.request.post(session.base + url, form=data, headers={"X-CSRFToken": token})
        assert response.status == 403, url
    assert Job.objects.get(pk=job.pk).status in ("IN_QUEUE", "IN_PROGRESS")
    assert AuditEntry.objects.filter(outcome="denied").count() == 3
