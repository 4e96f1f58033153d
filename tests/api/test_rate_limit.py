"""Per-token rate limiting: past API_RATE_LIMIT requests in a window the answer is 429 with Retry-After."""

import pytest

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def test_a_token_past_its_limit_gets_429_with_retry_after(settings, operator, viewer):
    """The limit counts per token: one token is held back while another goes on."""
    settings.API_RATE_LIMIT, settings.API_RATE_WINDOW = 3, 60
    busy, calm = token_client(operator), token_client(viewer)
    assert [busy.get("/api/v1/jobs").status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get("/api/v1/jobs")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert calm.get("/api/v1/jobs").status_code == 200


def test_a_browser_session_is_limited_per_user(settings, as_viewer):
    """Session callers count per user, like tokens."""
    settings.API_RATE_LIMIT, settings.API_RATE_WINDOW = 2, 60
    assert [as_viewer.get("/api/v1/endpoints").status_code for _ in range(3)] == [200, 200, 429]


def test_zero_turns_the_limit_off(settings, token_viewer):
    """API_RATE_LIMIT=0 lets every request through."""
    settings.API_RATE_LIMIT = 0
    assert {token_viewer.get("/api/v1/audit").status_code for _ in range(5)} == {200}
