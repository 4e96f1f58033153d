"""Production settings: `manage.py check --deploy` is clean, and the cookies a login sets are Secure and HttpOnly."""

import json
import os
import secrets
import subprocess
import sys
import uuid

import pytest
from django.urls import reverse

from .figures import ROOT

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "dash.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://dash.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY": "1",
}
SECURITY_SETTINGS = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "X_FRAME_OPTIONS",
]


def run_django(*args, **env):
    # Not the browser tests' async escape hatch, and a cache of its own so earlier failed logins count for nothing.
    dropped = ("DEBUG", "SECURE_COOKIES", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update(CACHE_KEY_PREFIX=f"rpdash-deploy-{uuid.uuid4().hex}")
    environment.update(DJANGO_SETTINGS_MODULE="dashboard.settings", **PRODUCTION_ENV, **env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def production_settings() -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
    )
    result = run_django("-c", code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings():
    """`manage.py check --deploy` finds nothing, not even a warning, with the production environment."""
    result = run_django("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def readme_production_env() -> dict:
    """What README's production set-up gives: .env.example's uncommented settings, with a SECRET_KEY filled in."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    values = {name.strip(): value.strip() for name, value in pairs}
    return {**values, "SECRET_KEY": secrets.token_urlsafe(50)}


def test_check_deploy_is_clean_with_the_settings_the_readme_gives():
    """Not only the test's own environment: .env.example as README tells you to fill it passes check --deploy."""
    prefixes = ("SECURE_", "DEBUG", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")  # the last: the browser tests'
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(DJANGO_SETTINGS_MODULE="dashboard.settings", **readme_production_env())
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_defaults_are_secure_without_extra_switches():
    """DEBUG off alone makes both cookies Secure; the session cookie is never readable by scripts."""
    values = production_settings()
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000 and values["X_FRAME_OPTIONS"] == "DENY"


@pytest.mark.django_db
def test_logging_in_under_production_settings_sets_secure_cookies(client, settings, viewer):
    """The session and CSRF cookies a real login sets carry Secure (and HttpOnly for the session)."""
    for name, value in production_settings().items():
        if name != "DEBUG":
            setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    page = client.get(reverse("login"), secure=True)
    assert page.cookies["csrftoken"]["secure"]
    response = client.post(reverse("login"), {"username": "viewer", "password": "pw-for-tests-only"}, secure=True)
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"]
    assert client.get(reverse("login")).status_code == 301, "plain http is redirected to https"
