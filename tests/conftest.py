"""Shared fixtures. Layer-specific ones live beside their tests (tests/browser/conftest.py, ...)."""

import pytest

from tests.factories import make_endpoint, make_user


@pytest.fixture
def viewer(db):
    return make_user("Viewers", username="viewer")


@pytest.fixture
def operator(db):
    return make_user("Operators", username="operator")


@pytest.fixture
def admin_user(db):
    return make_user(None, username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def endpoint(db):
    return make_endpoint(name="demo", runpod_id="demo")
