"""The audit log page, logging in (with its rate limit), and the error pages."""

import re
import uuid

import pytest
from django.urls import reverse

from jobs import services
from tests.factories import make_endpoint, make_job, make_user

from .conftest import HX

pytestmark = pytest.mark.django_db


def test_audit_log_lists_who_did_what_and_how_it_went(as_viewer, operator):
    """Each entry shows the user, the action, its target and the outcome."""
    job = make_job()
    services.audit_record(action="cancel", user=operator, job=job, outcome="error", message="RunPod said <no>")
    html = as_viewer.get(reverse("audit_list")).content.decode()
    assert "operator" in html and "cancel" in html and job.runpod_id in html
    assert '<span class="outcome error">Error</span>' in html
    assert "RunPod said &lt;no&gt;" in html


def test_audit_log_filters_by_outcome_action_user_and_endpoint(as_viewer, operator, viewer):
    """Filters narrow the trail and live in the URL."""
    endpoint = make_endpoint()
    services.audit_record(action="purge", user=operator, endpoint=endpoint, message="kept")
    services.audit_record(action="purge", user=viewer, outcome="denied", message="refused")
    services.audit_record(action="submit", user=operator, message="other")
    response = as_viewer.get(reverse("audit_list"), {"action": "purge", "user": "operator", "endpoint": endpoint.pk})
    assert [e.message for e in response.context["entries"]] == ["kept"]
    response = as_viewer.get(reverse("audit_list"), {"outcome": "denied"})
    assert [e.message for e in response.context["entries"]] == ["refused"]


def test_audit_log_pages_by_keyset(as_viewer):
    """Older entries are one link away and no entry repeats."""
    for n in range(75):
        services.audit_record(action="submit", message=f"entry {n}")
    first = as_viewer.get(reverse("audit_list"))
    second = as_viewer.get(reverse("audit_list"), {"after": first.context["older"]}, **HX).content.decode()
    messages = [e.message for e in first.context["entries"]] + re.findall(r"entry \d+", second)
    assert len(messages) == 75 == len(set(messages))
    assert second.lstrip().startswith('<div id="results">')


def test_login_page_and_login(client):
    """A user logs in with the form and lands on the overview."""
    make_user("Viewers", username="vera", password="s3cret-pass")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "vera", "password": "s3cret-pass"})
    assert response.status_code == 302 and response["Location"] == reverse("overview")


def test_repeated_failed_logins_are_blocked_for_a_while(client, settings):
    """After LOGIN_RATE_LIMIT failures even the right password is refused with 429."""
    settings.LOGIN_RATE_LIMIT = 3
    name = f"u{uuid.uuid4().hex[:8]}"
    address = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    make_user("Viewers", username=name, password="right-password")
    for expected in (200, 200, 429):
        response = client.post(reverse("login"), {"username": name, "password": "wrong"}, REMOTE_ADDR=address)
        assert response.status_code == expected
    response = client.post(reverse("login"), {"username": name, "password": "right-password"}, REMOTE_ADDR=address)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()


def test_logout_is_a_post_from_the_header(as_viewer):
    """The header's log-out button posts to the logout view."""
    html = as_viewer.get(reverse("overview")).content.decode()
    assert f'action="{reverse("logout")}"' in html
    assert as_viewer.post(reverse("logout")).status_code == 302


def test_pages_load_htmx_and_the_app_script_from_static(as_viewer):
    """htmx comes from the vendored static copy, never a CDN, and the CSRF header is on <body>."""
    html = as_viewer.get(reverse("overview")).content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert '<script src="/static/js/app.js" defer></script>' in html
    assert "cdn" not in html.lower() and "unpkg" not in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_role_is_named_in_the_header(as_viewer, as_operator, as_admin):
    """Each user sees their role, and staff see the admin link."""
    assert "Viewer</span>" in as_viewer.get(reverse("overview")).content.decode()
    assert "Operator</span>" in as_operator.get(reverse("overview")).content.decode()
    admin_html = as_admin.get(reverse("overview")).content.decode()
    assert "Admin</span>" in admin_html and reverse("admin:index") in admin_html
