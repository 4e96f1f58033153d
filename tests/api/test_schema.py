"""The OpenAPI schema is served and valid, and the docs page renders it from local static files."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_schema_validates_with_openapi_spec_validator(as_viewer):
    """openapi.json, as served, is a valid OpenAPI document naming every route."""
    response = as_viewer.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/export", "/api/v1/endpoints", "/api/v1/audit"):
        assert path in schema["paths"]


def test_schema_is_served_to_a_token_and_refused_to_strangers(client, token_viewer):
    """A script with a token reads the schema; without one it gets 401, and the docs page sends to login."""
    assert token_viewer.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/api/v1/docs").status_code == 302


def test_docs_page_uses_only_local_static_files(as_viewer):
    """Every script and stylesheet of the docs page is a local static file that exists; no CDN, no inline code."""
    html = as_viewer.get("/api/v1/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert all('type="application/json"' in attrs for attrs in inline), inline
    settings_json = re.search(r'id="swagger-settings">(.*?)</script>', html, re.S).group(1)
    assert json.loads(settings_json)["url"] == "/api/v1/openapi.json"
