"""Edit and run, then compare the two attempts, in Chromium with a real worker and the simulator."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from jobs import services
from jobs.models import Endpoint, Job
from tests.factories import make_endpoint, make_job
from tests.utils import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def warm_endpoint(sim, transactional_db):
    """A simulator endpoint with a worker already up (the simulator echoes a job's input as its output), polled
    every half second."""
    endpoint_id = f"warm-{uuid.uuid4().hex[:8]}"
    sim.configure(time_scale=1.0, error_rate=0, timeout_rate=0, drop_rate=0, rate_limit_burst=0, latency_ms=0)
    sim.add_endpoint(endpoint_id, min_workers=1, max_workers=2, cold_start=0.1, job_seconds=[0.1, 0.2])
    endpoint = make_endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key="sim-key")
    Endpoint.objects.filter(pk=endpoint.pk).update(poll_running_seconds=0.5, poll_queued_seconds=0.5)
    return endpoint


def test_edit_and_run_links_both_attempts_and_the_list_compares_them(as_user, warm_endpoint, celery_worker):
    """Edit a finished job's input, run it on the simulator, follow the links both ways, then tick both rows in the
    jobs list (a tick outlives the live refresh of its row) and read their diff. No script is refused by the
    Content-Security-Policy on the way."""
    refused = []
    first = services.job_submit(
        endpoint=warm_endpoint, input={"prompt": "a cat", "steps": 20}, policy={"executionTimeout": 60_000}
    )
    wait_for(lambda: Job.objects.get(pk=first.pk).status == "COMPLETED", message="the first job to complete")
    session = as_user("Operators")
    page = session.page
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)

    page = session.go(first.get_absolute_url())
    page.click("[data-action=edit-and-run]")
    expect(page.locator("h1")).to_have_text("Edit and run")
    expect(page.locator("#id_execution_timeout")).to_have_value("60000")
    expect(page.locator("#id_input")).to_have_value(re.compile('"prompt": "a cat"'))
    page.fill("#id_input", '{"prompt": "a dog", "seed": 7}')
    session.shot("edit-and-run-form")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    second = Job.objects.get(parent=first)
    assert page.url.endswith(second.get_absolute_url())
    expect(page.locator("#job-live")).to_have_attribute("data-status", "COMPLETED", timeout=30_000)
    expect(page.locator("#parent-link")).to_have_attribute("href", first.get_absolute_url())
    expect(page.locator("#attempts")).to_contain_text(f"#{first.pk}")
    session.shot("edit-and-run-new-job")

    page.click("#parent-link")
    page.wait_for_url(re.compile(rf"/jobs/{first.pk}/$"))
    expect(page.locator(f'#attempts a[href="{second.get_absolute_url()}"]')).to_be_visible()
    session.shot("edit-and-run-parent")

    # A job still in the queue (on a disabled endpoint, so nothing polls it): the list redraws its row every 2 s.
    waiting = make_job(make_endpoint(name="paused", enabled=False), status="IN_QUEUE", next_poll_at=None)
    page = session.go("/jobs/")
    button = page.locator("[data-compare-button]")
    expect(button).to_be_disabled()
    tick = f"#job-{waiting.pk} input[data-compare-pick]"
    page.check(tick)
    page.evaluate(f"window.__row = document.getElementById('job-{waiting.pk}')")
    redrawn = f"document.getElementById('job-{waiting.pk}') !== window.__row"
    wait_for(lambda: page.evaluate(redrawn), timeout=15, message="the live refresh to redraw the queued row")
    expect(page.locator(tick)).to_be_checked()  # the tick outlived the live refresh of its row
    page.uncheck(tick)
    page.check(f"#job-{first.pk} input[data-compare-pick]")
    page.check(f"#job-{second.pk} input[data-compare-pick]")
    expect(button).to_be_enabled()
    expect(page.locator("[data-compare-status]")).to_have_text("2 jobs ticked")
    session.shot("compare-ticked-rows")
    button.click()
    page.wait_for_url(re.compile(r"/jobs/compare/\?job="))
    inputs = page.locator("#compare-input .diff-table")
    expect(inputs.locator("tr.diff-changed")).to_contain_text('"a cat"')
    expect(inputs.locator("tr.diff-added")).to_contain_text("seed")
    expect(inputs.locator("tr.diff-removed")).to_contain_text("steps")
    expect(page.locator("#compare-output [data-diff-counts]")).not_to_have_text("identical")
    session.shot("compare-page")
    page.emulate_media(color_scheme="dark")
    page.click("#compare-input .side-by-side summary")
    expect(page.locator("#compare-input .side-by-side .json-tree")).to_have_count(2)
    session.shot("compare-page-dark")
    assert refused == []
