"""Browser fixtures: Debian's Chromium through Playwright, logged-in pages, screenshots kept as artifacts.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety check must be relaxed for
the ORM calls the tests make between page actions.
"""

import os
import uuid
from pathlib import Path

import pytest

from jobs.models import Endpoint
from tests.factories import make_endpoint, make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-password"


def screenshot_dir() -> Path:
    """$ARTIFACTS_DIR/screenshots when CI sets ARTIFACTS_DIR (it keeps that folder), else artifacts/screenshots."""
    path = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts") / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def launched_chromium():
    """Debian's Chromium through Playwright (a generator for fixtures to yield from); skips without it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (run `make chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Package scope: Playwright's loop must be gone before other packages' tests call asyncio.run().
@pytest.fixture(scope="package")
def browser():
    yield from launched_chromium()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


class Session:
    """A logged-in page with helpers for the live server's URLs and screenshots."""

    def __init__(self, page, live_server):
        self.page = page
        self.base = live_server.url

    def go(self, path):
        self.page.goto(self.base + path)
        return self.page

    def login(self, username, password=PASSWORD):
        self.go("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/")
        return self

    def shot(self, name, *, docs_name=None, full_page=True):
        """Save a screenshot as an artifact; with DOCS_SCREENSHOTS=1, docs_name also goes to docs/screenshots."""
        path = screenshot_dir() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if docs_name and os.environ.get("DOCS_SCREENSHOTS") == "1":
            docs = ROOT / "docs" / "screenshots"
            docs.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(docs / f"{docs_name}.png"), full_page=full_page)
        return path

    def csrf_token(self):
        return next(c["value"] for c in self.page.context.cookies() if c["name"] == "csrftoken")


@pytest.fixture
def login_as(page, live_server):
    """Log in an existing user (made with tests.browser.conftest.PASSWORD)."""
    return lambda username: Session(page, live_server).login(username)


@pytest.fixture
def as_user(page, live_server):
    """Log in a new user of the given role: `session = as_user("Operators")`."""

    def login(role, username=None):
        username = username or f"{(role or 'admin').lower()}-{uuid.uuid4().hex[:6]}"
        extra = {} if role else {"is_staff": True, "is_superuser": True}
        make_user(role, username=username, password=PASSWORD, **extra)
        return Session(page, live_server).login(username)

    return login


@pytest.fixture
def live_endpoint(sim, transactional_db):
    """An endpoint on the simulator that starts with no worker (jobs wait in the queue through a cold start),
    polled every half second so the pages have something to show quickly."""
    endpoint_id = f"live-{uuid.uuid4().hex[:8]}"
    sim.configure(time_scale=1.0, error_rate=0, timeout_rate=0, drop_rate=0, rate_limit_burst=0, latency_ms=0)
    sim.add_endpoint(
        endpoint_id,
        min_workers=0,
        max_workers=2,
        cold_start=3.0,
        scaler="request_count",
        scaler_value=1,
        idle_timeout=30,
        job_seconds=[0.2, 0.4],
    )
    endpoint = make_endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key="sim-key")
    Endpoint.objects.filter(pk=endpoint.pk).update(poll_running_seconds=0.5, poll_queued_seconds=0.5)
    endpoint.refresh_from_db()
    return endpoint
