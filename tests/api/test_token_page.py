"""The API tokens page: make a named token shown once, list tokens with last use, revoke; only one's own."""

import pytest
from django.urls import reverse

from api import tokens
from api.models import ApiToken
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_making_a_token_shows_it_once_and_it_works(as_viewer, viewer, client):
    """The POST answer shows the raw token; the page after it shows only the prefix; the token authenticates."""
    response = as_viewer.post(reverse("api_tokens"), {"name": "grafana", "expires": "30"})
    assert response.status_code == 201
    token = ApiToken.objects.get(user=viewer)
    raw = response.context["new_token"]["raw"]
    assert raw in response.content.decode() and token.expires_at is not None
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    again = as_viewer.get(reverse("api_tokens")).content.decode()
    assert raw not in again and f"rpd_{token.prefix}_" in again and "grafana" in again
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {raw}"}).status_code == 200


def test_a_nameless_token_is_refused_and_the_form_says_why(as_viewer):
    """An empty name answers 422 with the error next to the field, and nothing is made."""
    response = as_viewer.post(reverse("api_tokens"), {"name": "  ", "expires": ""})
    assert response.status_code == 422
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_revoking_from_the_page_stops_the_token(as_viewer, viewer, client):
    """Revoke marks the token revoked on the page and the API then answers 401."""
    token, raw = tokens.token_create(user=viewer, name="ci")
    client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {raw}"})
    page = as_viewer.get(reverse("api_tokens")).content.decode()
    assert "never" in page  # no expiry
    response = as_viewer.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert "revoked" in response.content.decode()
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_no_one_sees_or_revokes_another_users_tokens(as_viewer):
    """Someone else's token is not listed, and revoking it is a 404."""
    other, _ = tokens.token_create(user=make_user("Operators"), name="theirs")
    assert "theirs" not in as_viewer.get(reverse("api_tokens")).content.decode()
    assert as_viewer.post(reverse("api_token_revoke", args=[other.pk])).status_code == 404
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None


def test_the_token_page_needs_login_and_csrf(client, viewer):
    """Logged out, the page redirects to login; a POST without the CSRF token is refused."""
    assert client.get(reverse("api_tokens")).status_code == 302
    from tests.utils import logged_in

    strict = logged_in(viewer, enforce_csrf_checks=True)
    assert strict.post(reverse("api_tokens"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()
