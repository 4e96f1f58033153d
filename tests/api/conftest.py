"""API clients: a Django test client carrying a role's personal API token (token_viewer, token_operator,
token_admin), and the raw tokens for tests that build their own requests."""

import pytest
from django.test import Client

from api import tokens


def token_client(user, name="tests"):
    """A test client sending the user's new API token as a bearer token on every request."""
    _, raw = tokens.token_create(user=user, name=name)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    client.raw_token = raw
    return client


@pytest.fixture
def token_viewer(viewer):
    return token_client(viewer)


@pytest.fixture
def token_operator(operator):
    return token_client(operator)


@pytest.fixture
def token_admin(admin_user):
    return token_client(admin_user)


@pytest.fixture
def sends_enqueued(monkeypatch):
    """The job ids whose send task was enqueued (after commit), instead of putting them on the shared broker."""
    sent = []
    monkeypatch.setattr("jobs.tasks.send_job.delay", sent.append)
    return sent
