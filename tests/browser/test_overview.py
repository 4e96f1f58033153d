"""The overview with a hundred endpoints in real Chromium: search, sort, pin, the table view, the live refresh
that sends nothing when nothing changed, and the page without JavaScript; screenshots in both themes and at a
phone's width."""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Endpoint, HealthSnapshot, Job
from tests.browser.conftest import PASSWORD, Session
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# An htmx round trip on the shared 2-core machine can take seconds; the page itself is checked in tests/dashboard.
SWAP = 15_000


@pytest.fixture
def hundred(transactional_db):
    """A hundred endpoints: every seventeenth with its key refused, every eleventh failing, every thirteenth with
    unhealthy workers, the rest healthy with a fresh snapshot and an hour of history."""
    now = timezone.now()
    endpoints = Endpoint.objects.bulk_create(
        Endpoint(
            name=f"{('sdxl', 'llama', 'whisper', 'flux')[n % 4]}-{n:03d}",
            runpod_id=f"ep{n:03d}",
            base_url="http://127.0.0.1:9/v2",
            api_key="k",
            auth_failed_at=now if n % 17 == 5 else None,
        )
        for n in range(100)
    )
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(
            endpoint=endpoint,
            taken_at=now - timedelta(seconds=seconds),
            jobs_in_queue=(n + seconds // 120) % 9,
            jobs_in_progress=n % 4,
            workers_running=2,
            workers_idle=1,
            workers_unhealthy=2 if n % 13 == 7 else 0,
        )
        for n, endpoint in enumerate(endpoints)
        for seconds in range(5, 3600, 300)
    )
    Job.objects.bulk_create(
        Job(
            endpoint=endpoint,
            runpod_id=f"job-{n}-{k}",
            status="FAILED" if k < 3 else "COMPLETED",
            finished_at=now - timedelta(minutes=5 + k),
            delay_ms=800,
            execution_ms=2500,
        )
        for n, endpoint in enumerate(endpoints)
        if n % 11 == 3
        for k in range(5)
    )
    make_user("Viewers", username="vera", password=PASSWORD)
    return endpoints


def cards(page):
    return page.locator("#overview-cards .endpoint-card")


def test_a_hundred_endpoints_open_on_the_ones_that_need_attention(login_as, hundred):
    """The first page holds 24 cards, refused keys first, then failing, then the rest; shots in both themes."""
    session = login_as("vera")
    page = session.page
    expect(cards(page)).to_have_count(24, timeout=SWAP)
    expect(page.locator(".overview-pager")).to_contain_text("Page 1 of 5 · 100 endpoints")
    attention = cards(page).evaluate_all("cards => cards.map(c => c.dataset.attention)")
    assert attention[:6] == ["key_refused"] * 6
    assert attention[6] == "failing"
    assert attention == sorted(
        attention,
        key=["key_refused", "failing", "queue_growing", "workers_unhealthy", "warning", "healthy", "disabled"].index,
    )
    session.shot("overview-100-light")
    page.emulate_media(color_scheme="dark")
    session.shot("overview-100-dark")


def test_search_narrows_the_cards_as_you_type_and_stays_in_the_url(login_as, hundred):
    """Typing a name keeps the matching cards only, puts the search in the address bar, and a reload agrees."""
    session = login_as("vera")
    page = session.page
    page.fill("#overview-q", "whisper-04")
    expect(page).to_have_url(re.compile(r"q=whisper-04"), timeout=SWAP)
    expect(cards(page)).to_have_count(2, timeout=SWAP)  # whisper-042 and whisper-046
    names = cards(page).evaluate_all("cards => cards.map(c => c.dataset.endpoint)")
    assert all("whisper-04" in name for name in names)
    expect(page.locator("#overview-q")).to_be_focused()
    page.reload()
    expect(cards(page)).to_have_count(2, timeout=SWAP)
    expect(page.locator("#overview-q")).to_have_value("whisper-04")
    page.fill("#overview-q", "no-such-endpoint")
    expect(page.locator(".empty-state")).to_contain_text("No endpoint matches")


def test_sort_by_name_and_by_queue(login_as, hundred):
    """Choosing a sort reorders the cards and is kept in the URL."""
    session = login_as("vera")
    page = session.page
    page.select_option("#overview-sort", "name")
    expect(page).to_have_url(re.compile(r"sort=name"), timeout=SWAP)
    expect(cards(page).first).to_have_attribute("data-endpoint", "flux-003", timeout=SWAP)
    page.select_option("#overview-sort", "queue")
    expect(page).to_have_url(re.compile(r"sort=queue"), timeout=SWAP)
    queues = cards(page).evaluate_all(
        "cards => cards.map(c => parseInt(c.querySelector('.figures dd').textContent) || 0)"
    )
    assert queues == sorted(queues, reverse=True)


def test_a_pinned_endpoint_moves_to_the_top_and_stays_there(login_as, hundred):
    """Pinning a card from the second page brings it first, pressed, after a reload too; unpinning returns it."""
    session = login_as("vera")
    page = session.page
    session.go("/?sort=name&page=2")
    card = page.locator(".endpoint-card[data-endpoint='llama-029']")
    card.locator(".pin-button").click()
    expect(page).to_have_url(re.compile(r"page=2"), timeout=SWAP)
    session.go("/?sort=name")
    first = cards(page).first
    expect(first).to_have_attribute("data-endpoint", "llama-029", timeout=SWAP)
    expect(first.locator(".pin-button")).to_have_attribute("aria-pressed", "true")
    session.shot("overview-100-pinned")
    first.locator(".pin-button").click()
    expect(cards(page).first).to_have_attribute("data-endpoint", "flux-003", timeout=SWAP)


def test_the_table_view_shows_every_endpoint_on_one_page(login_as, hundred):
    """The dense table has a row per endpoint, rows refused first, and is saved in both themes."""
    session = login_as("vera")
    page = session.page
    page.click("label:has-text('Table')")
    expect(page).to_have_url(re.compile(r"view=table"), timeout=SWAP)
    rows = page.locator("#overview-rows tr")
    expect(rows).to_have_count(100, timeout=SWAP)
    expect(rows.first.locator(".pill")).to_have_text("Key refused")
    rows.nth(10).locator(".pin-button").click()
    expect(page.locator("#overview-rows tr.is-pinned")).to_have_count(1, timeout=SWAP)
    expect(rows.first).to_have_class(re.compile("is-pinned"))
    session.shot("overview-100-table-light")
    page.emulate_media(color_scheme="dark")
    session.shot("overview-100-table-dark")


def test_the_overview_reads_at_a_phones_width(browser, live_server, hundred):
    """At 390 px the controls wrap, cards are one column and the table scrolls sideways, nothing spills."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, color_scheme="light", is_mobile=True)
    try:
        session = Session(context.new_page(), live_server).login("vera")
        page = session.page
        expect(cards(page)).to_have_count(24, timeout=SWAP)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        session.shot("overview-100-phone", full_page=False)
        session.go("/?view=table")
        expect(page.locator("#overview-rows tr")).to_have_count(100, timeout=SWAP)
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
        session.shot("overview-100-phone-table", full_page=False)
        page.emulate_media(color_scheme="dark")
        session.go("/")
        session.shot("overview-100-phone-dark", full_page=False)
    finally:
        context.close()


def test_the_live_refresh_is_a_bare_304_until_a_card_changes(login_as, hundred):
    """Unchanged refreshes come back 304 with no body; a new snapshot swaps that one card in place."""
    session = login_as("vera")
    page = session.page
    page.evaluate("window.__notReloaded = true")
    statuses = []
    page.on("response", lambda r: "/hx/overview/" in r.url and statuses.append(r.status))
    # The first refresh can fall on a new minute (the last hour moved on): wait for the 304s that follow.
    deadline = time.monotonic() + 15
    while 304 not in statuses and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert 304 in statuses
    target = hundred[5]  # a refused key: on the first page
    target_card = page.locator(f"#card-{target.pk}")
    other = page.locator("#overview-cards .endpoint-card[data-endpoint='sdxl-056']")
    other.evaluate("el => el.dataset.untouched = 'yes'")
    HealthSnapshot.objects.create(endpoint=target, taken_at=timezone.now(), jobs_in_queue=4321)
    expect(target_card.locator(".figures dd").first).to_have_text(re.compile(r"^4,321"), timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True
    assert other.get_attribute("data-untouched") == "yes"  # that card was not swapped


def test_without_javascript_the_controls_work_as_a_form(browser, live_server, hundred):
    """With scripts off, the Apply button submits the search, sort and view, and pinning posts and returns."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    try:
        session = Session(context.new_page(), live_server).login("vera")
        page = session.page
        page.fill("#overview-q", "flux")
        page.select_option("#overview-sort", "name")
        page.click("label:has-text('Table')")
        page.click("#overview-controls button[type=submit]")
        expect(page).to_have_url(re.compile(r"q=flux.*sort=name.*view=table"), timeout=SWAP)
        rows = page.locator("#overview-rows tr")
        expect(rows).to_have_count(25, timeout=SWAP)
        rows.nth(4).locator(".pin-button").click()
        expect(page).to_have_url(re.compile(r"view=table"), timeout=SWAP)
        expect(page.locator("#overview-rows tr").first).to_have_class(re.compile("is-pinned"))
        session.shot("overview-100-no-js")
    finally:
        context.close()
