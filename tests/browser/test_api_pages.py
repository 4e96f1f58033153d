"""The API's pages in Chromium: making a token (shown once, then working), revoking it, the Swagger docs page
rendering the schema from local files, and the jobs list's export links."""

import httpx
import pytest

from tests.factories import make_job

pytestmark = pytest.mark.browser


def test_a_token_made_on_the_page_works_until_revoked(as_user, live_server):
    """The token shown after Make token answers the API; after Revoke it gets 401."""
    session = as_user("Operators")
    page = session.go("/api/tokens/")
    page.fill("#id_name", "grafana")
    page.select_option("#id_expires", "30")
    page.click("button:has-text('Make token')")
    raw = page.locator("#new-token").inner_text().strip()
    assert raw.startswith("rpd_")
    session.shot("api-token-made")
    url = f"{live_server.url}/api/v1/jobs"
    assert httpx.get(url, headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    page = session.go("/api/tokens/")
    assert raw not in page.content() and "grafana" in page.content()
    page.click("button:has-text('Revoke')")
    page.wait_for_selector("text=is revoked")
    session.shot("api-token-revoked")
    assert httpx.get(url, headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_the_docs_page_renders_every_route_from_local_files(as_user, live_server):
    """Swagger UI draws the schema's operations, and no request leaves the live server."""
    session = as_user("Viewers")
    outside = []
    session.page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
    page = session.go("/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 13
    session.shot("api-docs")
    assert outside == []


def test_the_jobs_list_offers_exports_of_its_filters(as_user):
    """The CSV and NDJSON links sit under the list and follow the filters."""
    make_job(status="FAILED")
    session = as_user("Viewers")
    page = session.go("/jobs/?status=FAILED")
    link = page.locator(".export-links a", has_text="CSV")
    assert "status=FAILED" in link.get_attribute("href")
    session.shot("jobs-export-links")
