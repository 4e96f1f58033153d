"""Fixtures for view tests: test clients logged in as each role."""

import uuid

import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Tests create many users; the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_cache(settings):
    """A cache of this test's own (the configured one may be a Redis shared with other runs)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    """Pages link static files by name; the hashed manifest exists only after collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_viewer(viewer):
    return _client_for(viewer)


@pytest.fixture
def as_operator(operator):
    return _client_for(operator)


@pytest.fixture
def as_admin(admin_user):
    return _client_for(admin_user)


HX = {"HTTP_HX_REQUEST": "true"}
