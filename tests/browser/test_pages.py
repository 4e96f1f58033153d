"""Every page in real Chromium with realistic rows: it renders, behaves, and is saved as a screenshot."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.seed import seed_demo
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db):
    """Realistic rows, with an operator who submitted the jobs (she appears in the README's screenshots)."""
    return seed_demo(user=make_user("Operators", username="olivia", password=PASSWORD))


def test_login_is_required_and_works(page, live_server, as_user):
    """An anonymous visitor lands on the login form; after logging in, the overview."""
    page.goto(live_server.url + "/jobs/")
    expect(page.locator("#id_username")).to_be_visible()
    session = as_user("Viewers")
    expect(session.page.locator("h1")).to_have_text("Overview")


def test_every_page_renders_and_is_saved(login_as, demo):
    """Overview, endpoint, jobs, job pages, submit, purge and audit render with their key parts."""
    session = login_as("olivia")
    page = session.page
    expect(page.locator(".endpoint-card")).to_have_count(3)
    expect(page.locator(".endpoint-card.state-error[data-attention=key_refused]")).to_contain_text(
        "refuses this endpoint's API key"
    )
    expect(page.locator(".endpoint-card svg.chart-svg").first).to_be_visible()
    session.shot("overview", docs_name="overview")

    session.go(f"/endpoints/{demo['endpoints'][0].pk}/")
    expect(page.locator("#charts svg.chart-svg")).to_have_count(4)
    expect(page.locator("#charts path.line").first).to_be_visible()
    session.shot("endpoint")

    session.go("/jobs/")
    expect(page.locator("#job-rows tr")).to_have_count(28)
    session.shot("jobs")

    session.go(f"/jobs/{demo['completed'].pk}/")
    expect(page.locator(".gallery img")).to_have_count(1)
    countdown = page.locator("[data-countdown] .countdown")
    expect(countdown).to_have_text(re.compile(r"^\d\d:\d\d$"))
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first, timeout=3_000)  # it ticks down in the browser
    session.shot("job", docs_name="job")

    session.go(f"/jobs/{demo['failed'].pk}/")
    expect(page.locator(".error-type")).to_contain_text("OutOfMemoryError")
    expect(page.locator(".traceback pre")).to_contain_text("Traceback (most recent call last)")
    session.shot("job-failed")

    session.go(f"/jobs/{demo['running'].pk}/")
    expect(page.locator("#stream-chunks li")).to_have_count(11)
    session.shot("job-streaming")

    session.go("/jobs/new/")
    session.shot("submit")
    session.go(f"/endpoints/{demo['endpoints'][0].pk}/purge/")
    session.shot("purge")
    session.go("/audit/")
    session.shot("audit")


def test_output_markup_is_never_run(as_user, demo):
    """A <script> in a job's output is shown as text and never executes."""
    session = as_user("Viewers")
    page = session.page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    session.go(f"/jobs/{demo['completed'].pk}/")
    expect(page.locator("#job-output .json-tree")).to_contain_text("<script>alert('not run')</script>")
    assert dialogs == []


def test_dark_theme_toggle_is_remembered(as_user, demo):
    """The theme button switches light → dark and the choice survives a reload."""
    session = as_user("Viewers")
    page = session.page
    page.click("#theme-toggle")
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    session.shot("overview-dark")


def test_live_toggle_pauses_polling(as_user, demo):
    """Pausing stops the overview's refresh requests until resumed."""
    session = as_user("Viewers")
    page = session.page
    requests = []
    page.on("request", lambda request: "/hx/overview/" in request.url and requests.append(request.url))
    expect(page.locator("#live-toggle")).to_contain_text("Live · every 5 s")
    page.wait_for_event("request", lambda r: "/hx/overview/" in r.url, timeout=12_000)
    page.click("#live-toggle")
    expect(page.locator("#live-toggle")).to_have_attribute("aria-pressed", "false")
    seen = len(requests)
    page.wait_for_timeout(6_000)  # longer than one refresh interval: a paused page must stay silent
    assert len(requests) == seen
    page.click("#live-toggle")
    page.wait_for_event("request", lambda r: "/hx/overview/" in r.url, timeout=8_000)


def test_filters_live_in_the_url(as_user, demo):
    """Choosing a status swaps the results in place and puts the filter in the address bar."""
    session = as_user("Viewers")
    page = session.page
    session.go("/jobs/")
    page.select_option("#id_status", "FAILED")
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(page.locator("#job-rows .badge").first).to_have_text("Failed")
    page.fill("#id_q", demo["failed"].runpod_id)
    expect(page.locator("#results .note")).to_contain_text("Job id")


def test_bad_json_is_explained_and_what_was_typed_stays(as_user, demo):
    """A typo in the JSON comes back as an error beside the field, with the text as it was typed."""
    session = as_user("Operators")
    page = session.go("/jobs/new/")
    typed = '{"prompt": "a lighthouse",\n "steps": 30,,}'
    page.fill("#id_input", typed)
    expect(page.locator("[data-json-status]")).to_have_text("Not valid JSON yet")
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-form .field-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#id_input")).to_have_value(typed)
    session.shot("submit-error")


def test_an_oversize_input_is_refused_before_it_is_sent(as_user, demo):
    """Over the size limit, the form says so in the page and sends nothing."""
    session = as_user("Operators")
    page = session.go("/jobs/new/")
    page.eval_on_selector("#submit-form", "form => form.dataset.maxBytes = '1000'")
    typed = '{"prompt": "' + "x" * 2000 + '"}'
    page.fill("#id_input", typed)
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-errors .alert")).to_contain_text("RunPod accepts at most 10 MB")
    expect(page.locator("#id_input")).to_have_value(typed)
    assert posts == []
