"""Fixtures for the proxy tests: tokens per role, an endpoint on the simulator, and clients that use them."""

import uuid

import pytest
from django.test import Client

from api.tokens import token_create
from tests.factories import make_endpoint, make_user


@pytest.fixture
def operator_token(db):
    """A raw API token of a user in the Operators group."""
    user = make_user("Operators", username=f"op-{uuid.uuid4().hex[:6]}")
    return token_create(user=user, name="script")[1]


@pytest.fixture
def viewer_token(db):
    """A raw API token of a user in the Viewers group."""
    user = make_user("Viewers", username=f"view-{uuid.uuid4().hex[:6]}")
    return token_create(user=user, name="reader")[1]


@pytest.fixture
def proxy_endpoint(db, sim):
    """An Endpoint row for a fresh endpoint on the session's simulator (warm workers, quick jobs, no latency)."""
    endpoint_id = f"px-{uuid.uuid4().hex[:10]}"
    sim.configure(
        time_scale=1.0, error_rate=0, timeout_rate=0, drop_rate=0, rate_limit_burst=0, latency_ms=0, rate_limits=True
    )
    sim.add_endpoint(endpoint_id, min_workers=2, max_workers=4, cold_start=0, job_seconds=[0.02, 0.05])
    return make_endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key="stored-rp-key")


@pytest.fixture
def operator_client(operator_token):
    """A Django test client sending the Operator's token as RunPod's Bearer key."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {operator_token}")


@pytest.fixture
def viewer_client(viewer_token):
    """A Django test client sending the Viewer's token as RunPod's Bearer key."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {viewer_token}")


@pytest.fixture(autouse=True)
def proxy_lookups_forgotten():
    """Each test starts with no remembered callers or endpoints (they live in this process between requests)."""
    from proxy.services.access import lookups_forget

    lookups_forget()
    yield
    lookups_forget()
