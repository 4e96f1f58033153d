"""Every response carries the CSP and `Cache-Control: private, no-store`; oversized bodies are refused by their
Content-Length, before the CSRF middleware reads them, with the view's own readable answer and no traceback."""

import json
import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from dashboard.middleware import body_limit_for
from jobs.models import Job
from jobs.services.webhooks import webhook_path
from tests.factories import make_job
from tests.utils import logged_in

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["overview", "overview_hx", "job_list", "job_rows_hx", "audit_list", "job_submit", "job", "job_json", "admin"],
)
def test_every_authenticated_page_partial_and_download_is_private_and_under_the_csp(as_admin, url):
    """Pages, htmx partials, JSON downloads and the admin: never cached, and scripts only from this site."""
    job = make_job(input={"prompt": "x"})
    path = {
        "job": job.get_absolute_url(),
        "job_json": reverse("job_json", args=[job.pk, "input"]),
        "admin": "/admin/jobs/job/",
    }.get(url) or reverse(url)
    response = as_admin.get(path, **(HX if url.endswith("_hx") else {}))
    assert response.status_code == 200
    assert {"private", "no-store"} <= set(response["Cache-Control"].replace(" ", "").split(","))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy


def test_pages_carry_no_inline_script_and_htmx_runs_without_eval(as_viewer):
    """Every <script> has a src, and htmx is told not to evaluate attribute code (hx-on, trigger filters)."""
    html = as_viewer.get(reverse("overview")).content.decode()
    assert "<script>" not in html and "[rpdLive()]" not in html
    assert '"allowEval": false' in html


def test_the_csrf_cookie_is_httponly(client):
    """docs/reliability.md says so: no script reads it (the token travels in the page)."""
    response = client.get(reverse("login"))
    assert response.cookies["csrftoken"]["httponly"]


def test_remote_output_images_are_links_unless_the_setting_allows_them(as_viewer, settings):
    """By default an image URL in the output is not loaded in viewers' browsers; it is a link naming its host."""
    job = make_job(status="COMPLETED", has_output=True, output={"image": "https://tracker.example/pixel.png"})
    html = as_viewer.get(job.get_absolute_url()).content.decode()
    assert '<img src="https://tracker.example' not in html
    assert "Image on tracker.example: open it" in html
    assert "https:" not in as_viewer.get(job.get_absolute_url())["Content-Security-Policy"]
    settings.OUTPUT_REMOTE_IMAGES = True
    response = as_viewer.get(job.get_absolute_url())
    assert '<img src="https://tracker.example/pixel.png"' in response.content.decode()
    assert "img-src 'self' data: https: http:" in response["Content-Security-Policy"]


def csrf_client(user):
    client = logged_in(user, enforce_csrf_checks=True)
    client.get(reverse("overview"))
    return client, client.cookies["csrftoken"].value


def small_limits(settings, *, submit=2000, webhook=3000):
    settings.REQUEST_BODY_LIMITS = {
        **settings.REQUEST_BODY_LIMITS,
        "/jobs/new/": (submit, "dashboard.views.actions.submit_too_big"),
        "/hooks/runpod/": (webhook, "json"),
    }
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = max(submit, webhook)


def test_an_oversized_submit_answers_the_forms_message_before_csrf_reads_it(operator, endpoint, settings, caplog):
    """A body over the limit gets the htmx-visible 413 above the form, not a bare 400, and logs no ERROR."""
    small_limits(settings)
    client, token = csrf_client(operator)
    data = {"endpoint": endpoint.pk, "input": json.dumps({"p": "y" * 5000}), "mode": "async"}
    with caplog.at_level(logging.WARNING):
        response = client.post(reverse("job_submit"), data, HTTP_X_CSRFTOKEN=token, **HX)
    assert response.status_code == 413
    assert response["HX-Retarget"] == "#submit-errors"
    assert "too large" in response.content.decode()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not Job.objects.exists()


def test_an_oversized_webhook_answers_json_413_without_a_traceback(endpoint, settings, caplog):
    """RunPod (or anyone) posting a huge body gets a JSON 413 with the limit, and nothing is logged as an error."""
    small_limits(settings)
    body = json.dumps({"id": "x", "status": "COMPLETED", "output": "z" * 10_000})
    with caplog.at_level(logging.WARNING):
        response = Client().post(webhook_path(endpoint), body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 3000 and "MB at most" in response.json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_anywhere_else_is_bounded_by_the_default_limit(as_viewer, settings):
    """Routes without an entry in REQUEST_BODY_LIMITS take Django's 2.5 MB, answered as a plain 413."""
    settings.REQUEST_BODY_DEFAULT_LIMIT = 100
    response = as_viewer.post(reverse("logout"), {"pad": "x" * 500})
    assert response.status_code == 413


def test_the_longest_prefix_decides_a_paths_limit(settings):
    """A route added under a prefix with its own entry gets that entry, others the default."""
    settings.REQUEST_BODY_LIMITS = {"/api/": (10, "json"), "/api/v1/uploads/": (99, "json")}
    assert body_limit_for("/api/v1/uploads/x") == (99, "json")
    assert body_limit_for("/api/v1/jobs") == (10, "json")
    assert body_limit_for("/jobs/") == (settings.REQUEST_BODY_DEFAULT_LIMIT, "html")


def test_no_template_relies_on_code_the_csp_refuses():
    """No inline <script>, inline handler, hx-on or evaluated trigger filter in any template: a page that needs
    one would silently stop working under the Content-Security-Policy (use data-live for live regions)."""
    root = Path(settings.BASE_DIR) / "templates"
    offenders = []
    for template in root.rglob("*.html"):
        text = template.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>",
            r"\son[a-z]+=",
            r"hx-on",
            r"\[[^\]]*\(\)\]",
        ):
            if re.search(pattern, text):
                offenders.append(f"{template.relative_to(root)}: {pattern}")
    assert offenders == []
