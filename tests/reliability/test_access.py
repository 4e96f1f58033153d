"""Nobody does through the dashboard what they should not: login on every page and partial, roles on every POST
checked by the server, CSRF on every POST, the admin for admins only."""

import pytest
from django.test import Client
from django.urls import reverse

from alerts.models import Alert, Silence
from dashboard.models import SavedView
from jobs.models import AuditEntry, BulkAction, Endpoint, Job, StatusTransition
from tests.utils import logged_in

from .routes import ADMIN_POSTS, GETS, POSTS, PUBLIC, ROUTES, SELF_SERVICE, World, dashboard_url_names, token_guarded

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(hostile):
    """Rows to act on, on an endpoint whose RunPod records every request it gets."""
    return World.make(base_url=hostile.base_url, api_key="rpa_ACCESSKEY_42")


def state():
    """What a refused request must leave exactly as it was."""
    return {
        "jobs": sorted(Job.objects.values_list("pk", "status", "next_poll_at")),
        "transitions": StatusTransition.objects.count(),
        "audit_ok": AuditEntry.objects.exclude(outcome="denied").count(),
        "alerts": sorted(Alert.objects.values_list("pk", "state", "acknowledged_at")),
        "silences": sorted(Silence.objects.values_list("pk", "until")),
        "bulk": sorted(BulkAction.objects.values_list("pk", "state", "stop_requested_at")),
        "endpoints": sorted(Endpoint.objects.values_list("pk", "price_per_second")),
        "views": sorted(SavedView.objects.values_list("pk", "name", "owner_id")),
    }


def test_the_route_table_covers_every_dashboard_url():
    """A new page or action added without an access test makes this fail."""
    names = {name for name in dashboard_url_names() if not token_guarded(name)}
    assert names == {route.name for route in ROUTES} | PUBLIC | SELF_SERVICE


@pytest.mark.parametrize("name", sorted(SELF_SERVICE))
def test_the_token_pages_send_anonymous_visitors_to_login(client, viewer, name):
    """Anyone signed in manages their own tokens; nobody else reaches the page or its actions."""
    url = reverse(name, args=[1] if name.endswith("revoke") else [])
    for response in (client.get(url), client.post(url, {"name": "stolen"})):
        assert response.status_code in (302, 405)
        assert response.status_code == 405 or response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("route", GETS, ids=lambda r: r.name)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_every_page_and_partial_sends_anonymous_visitors_to_login(client, world, route, htmx):
    """Anonymous GETs of any page or partial are redirected to the login page and show nothing."""
    response = client.get(world.url(route), **(HX if htmx else {}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert b"queued" not in response.content


def _actor(route) -> str:
    """Who may make this POST: an operator, or an admin for the admin-only ones."""
    return "admin_user" if route.name in ADMIN_POSTS else "operator"


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.name)
def test_every_post_from_an_anonymous_visitor_changes_nothing(client, world, hostile, route):
    """An anonymous POST goes to the login page; nothing is stored and RunPod hears nothing."""
    before = state()
    response = client.post(world.url(route), world.data(route))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert state() == before
    assert hostile.seen == []


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.name)
def test_every_post_from_a_viewer_is_refused_audited_and_never_reaches_runpod(as_viewer, world, hostile, route):
    """A viewer's POST (with a valid body, as if the button were there) gets 403 and an audit entry."""
    before = state()
    response = as_viewer.post(world.url(route), world.data(route))
    assert response.status_code == 403
    assert state() == before
    assert hostile.seen == []
    denied = AuditEntry.objects.get(outcome="denied")
    assert denied.username == "viewer"


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.name)
def test_every_post_without_a_csrf_token_is_refused(request, world, hostile, route):
    """An operator's (or for admin routes an admin's) POST without the CSRF token is refused before the view runs."""
    client = logged_in(request.getfixturevalue(_actor(route)), enforce_csrf_checks=True)
    before = state()
    response = client.post(world.url(route), world.data(route))
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert state() == before
    assert hostile.seen == []


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.name)
def test_the_same_post_with_its_csrf_token_gets_through(request, world, route):
    """The control for the CSRF test: with the token from a page, the operator's POST reaches the view."""
    client = logged_in(request.getfixturevalue(_actor(route)), enforce_csrf_checks=True)
    client.get(reverse("overview"))
    token = client.cookies["csrftoken"].value
    response = client.post(world.url(route), world.data(route), HTTP_X_CSRFTOKEN=token)
    assert response.status_code != 403


def test_logging_in_and_out_need_the_csrf_token_too(viewer):
    """Login and logout forms are CSRF-protected like every other POST."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "viewer", "password": "pw-for-tests-only"})
    assert response.status_code == 403 and "_auth_user_id" not in client.session
    client = logged_in(viewer, enforce_csrf_checks=True)
    assert client.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in client.session


ADMIN_ADD = "/admin/jobs/endpoint/add/"


def endpoint_form(**fields):
    data = {
        "name": "new-endpoint",
        "runpod_id": "abc123",
        "base_url": "https://api.runpod.ai/v2",
        "api_key": "rpa_NEWKEY_1",
        "enabled": "on",
        "poll_running_seconds": "2",
        "poll_queued_seconds": "3",
        "poll_queued_max_seconds": "30",
        "status_rate_per_10s": "2000",
        "status_concurrency": "400",
        "run_rate_per_10s": "1000",
    }
    data.update(fields)
    return data


@pytest.mark.parametrize("who", [None, "viewer", "operator"])
def test_only_admins_reach_the_admin_where_base_urls_are_set(request, who):
    """Anyone but an admin is sent to the admin login, and cannot add an endpoint (or its base URL)."""
    client = logged_in(request.getfixturevalue(who)) if who else Client()
    assert client.get(ADMIN_ADD).status_code == 302
    response = client.post(ADMIN_ADD, endpoint_form(base_url="http://attacker.example/v2"))
    assert response.status_code == 302 and "login/" in response["Location"]
    assert not Endpoint.objects.exists()


BAD_BASE_URLS = [
    "javascript:alert(1)",
    "ftp://files.example.com/v2",
    "file:///etc/passwd",
    "https://user:secret@api.runpod.ai/v2",
    "https://:secret@api.runpod.ai/v2",
    "https://api.runpod.ai/v2?key=rpa_x",
    "https://api.runpod.ai/v2#frag",
    "http://",
    "https://",
    " ",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_the_admin_refuses_base_urls_that_are_not_plain_http(as_admin, url):
    """Only http(s) base URLs without credentials, query or fragment are accepted, with a message."""
    response = as_admin.post(ADMIN_ADD, endpoint_form(base_url=url))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["base_url"]
    assert not Endpoint.objects.exists()


def test_the_admin_stores_a_plain_https_base_url(as_admin):
    """The control: a clean https URL is accepted (trailing slash trimmed)."""
    response = as_admin.post(ADMIN_ADD, endpoint_form(base_url="https://api.runpod.ai/v2/"))
    assert response.status_code == 302
    assert Endpoint.objects.get().base_url == "https://api.runpod.ai/v2"


def test_a_base_url_without_a_scheme_is_never_guessed_as_plain_http(as_admin):
    """A scheme-less URL must not become http://, which would send the API key in clear text."""
    as_admin.post(ADMIN_ADD, endpoint_form(base_url="api.runpod.ai/v2"))
    assert [e.base_url for e in Endpoint.objects.all()] in ([], ["https://api.runpod.ai/v2"])


@pytest.mark.parametrize("route", GETS, ids=lambda r: r.name)
@pytest.mark.parametrize("who", ["viewer", "operator", "admin_user"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_every_page_and_partial_renders_for_every_role(request, world, route, who, htmx):
    """Logged in, each URL answers 200 (or 403 where a viewer may not act), whether htmx asks or a deep link does."""
    client = logged_in(request.getfixturevalue(who), raise_request_exception=False)
    response = client.get(world.url(route), **(HX if htmx else {}))
    allowed = {200, 403} if who == "viewer" else {200}
    assert response.status_code in allowed
