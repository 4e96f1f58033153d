"""Personal API tokens: made, shown once, stored hashed, checked in constant time, revoked, expired."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from jobs.models import AuditEntry
from tests.factories import make_user


def test_create_returns_the_raw_token_once_and_stores_only_its_hash(operator):
    """The raw token is returned by create; the row keeps the prefix and a hash, never the secret."""
    token, raw = tokens.token_create(user=operator, name="ci script")
    assert raw.startswith(f"rpd_{token.prefix}_")
    secret = raw.rsplit("_", 1)[1]
    stored = ApiToken.objects.get(pk=token.pk)
    assert secret not in stored.secret_hash and len(stored.secret_hash) == 64
    assert secret not in str(list(ApiToken.objects.values_list()))


def test_create_is_audited_without_the_secret(operator):
    """Making a token writes an audit entry naming it by prefix, never by secret."""
    token, raw = tokens.token_create(user=operator, name="grafana")
    entry = AuditEntry.objects.get(action="token_create")
    assert entry.user == operator and token.prefix in entry.message
    assert raw not in entry.message and raw.rsplit("_", 1)[1] not in entry.message


def test_authenticate_returns_the_token_with_its_user(operator):
    """A good raw token authenticates to its row, with the owner loaded."""
    token, raw = tokens.token_create(user=operator, name="x")
    found = tokens.token_authenticate(raw)
    assert found is not None and found.pk == token.pk and found.user == operator


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: raw.replace("rpd_", "xyz_", 1),
        lambda raw: raw.rsplit("_", 1)[0],
        lambda raw: "",
        lambda raw: "rpd_" + "a" * 12 + "_" + raw.rsplit("_", 1)[1],
        lambda raw: raw + "x" * 300,
    ],
)
def test_authenticate_refuses_anything_but_the_exact_token(operator, mangle):
    """A changed secret, a changed prefix, a truncated or oversize token all fail."""
    _, raw = tokens.token_create(user=operator, name="x")
    assert tokens.token_authenticate(mangle(raw)) is None


def test_authenticate_refuses_non_strings(db):
    """None or bytes never reach the database lookup."""
    assert tokens.token_authenticate(None) is None
    assert tokens.token_authenticate(b"rpd_abc") is None


def test_a_revoked_token_stops_working_and_revoking_twice_changes_nothing(operator):
    """Revoke sets revoked_at once, audits once, and authentication then fails."""
    token, raw = tokens.token_create(user=operator, name="x")
    tokens.token_revoke(token=token, user=operator)
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    tokens.token_revoke(token=ApiToken.objects.get(pk=token.pk), user=operator)
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first
    assert AuditEntry.objects.filter(action="token_revoke").count() == 1
    assert tokens.token_authenticate(raw) is None


def test_only_the_owner_or_a_superuser_may_revoke(operator, admin_user):
    """Another user's revoke is refused; a superuser's is allowed."""
    token, raw = tokens.token_create(user=operator, name="x")
    with pytest.raises(tokens.TokenError):
        tokens.token_revoke(token=token, user=make_user("Operators"))
    assert tokens.token_authenticate(raw) is not None
    tokens.token_revoke(token=token, user=admin_user)
    assert tokens.token_authenticate(raw) is None


def test_an_expired_token_stops_working(operator):
    """Past its expiry a token is refused."""
    token, raw = tokens.token_create(user=operator, name="x", expires_at=timezone.now() + timedelta(hours=1))
    assert tokens.token_authenticate(raw) is not None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tokens.token_authenticate(raw) is None


def test_an_inactive_owner_token_stops_working(operator):
    """Deactivating the user disables their tokens too."""
    _, raw = tokens.token_create(user=operator, name="x")
    operator.is_active = False
    operator.save()
    assert tokens.token_authenticate(raw) is None


@pytest.mark.parametrize(
    ("name", "expires", "field"),
    [("", None, "name"), ("   ", None, "name"), ("n" * 101, None, "name"), ("ok", timedelta(hours=-1), "expires_at")],
)
def test_create_refuses_bad_names_and_past_expiry(operator, name, expires, field):
    """An empty or long name, or an expiry in the past, is refused with the field named and nothing stored."""
    with pytest.raises(tokens.TokenError) as caught:
        tokens.token_create(user=operator, name=name, expires_at=timezone.now() + expires if expires else None)
    assert caught.value.field == field
    assert not ApiToken.objects.exists()


def test_last_used_is_written_at_most_once_a_minute(operator, django_assert_num_queries):
    """The first use writes last_used_at; a second use within the minute is a single read."""
    token, raw = tokens.token_create(user=operator, name="x")
    with django_assert_num_queries(2):
        tokens.token_authenticate(raw)
    used = ApiToken.objects.get(pk=token.pk).last_used_at
    assert used is not None
    with django_assert_num_queries(1):
        tokens.token_authenticate(raw)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=used - timedelta(minutes=2))
    tokens.token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > used - timedelta(minutes=1)
