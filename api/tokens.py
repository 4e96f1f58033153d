"""Making, revoking and checking personal API tokens. The /api/v1 routes and the /v2 RunPod-style proxy both
authenticate through `token_authenticate`."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from jobs import services

from .models import ApiToken

TOKEN_PREFIX = "rpd_"  # noqa: S105 (the fixed start of every token, not a secret)
PREFIX_LENGTH = 12
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length
# Writing last_used_at on every request would turn each read into a write; once a minute is precise enough.
LAST_USED_PRECISION = timedelta(seconds=60)
# A hash to compare against when the prefix is unknown, so a miss costs what a hit costs.
_MISS_HASH = hashlib.sha256(b"no such token").hexdigest()
# Sent (sender=ApiToken, token=...) after a revocation's transaction: the revoking row is written with update(),
# which sends no post_save, and whoever remembers tokens (the /v2 proxy) must forget this one.
token_revoked = Signal()


class TokenError(services.InputError):
    """A token cannot be made or changed as asked; .field names the form field at fault, if one is."""

    def __init__(self, message, *, field=None):
        super().__init__(message)
        self.field = field


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(raw: str) -> tuple[str, str] | None:
    """rpd_<prefix>_<secret> -> (prefix, secret); None for anything else."""
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    prefix, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix, secret


def token_create(*, user, name, expires_at=None, remote_addr=None) -> tuple[ApiToken, str]:
    """Make a token for the user; returns it with the raw token, which is never available again.

    1. Check the name and the expiry.
    2. Store the prefix and the secret's hash, and audit, in one transaction.
    """
    name = (name or "").strip()
    if not name:
        raise TokenError("Give the token a name, so you can tell it apart later.", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise TokenError(f"A token name has at most {NAME_MAX_LENGTH} characters.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry must be in the future.", field="expires_at")
    # Letters and digits only, so the prefix never contains the separator.
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=prefix, secret_hash=_hash(secret), expires_at=expires_at
        )
        services.audit_record(
            action="token_create",
            user=user,
            message=f"API token {name!r} (rpd_{prefix}_…) created"
            + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""),
            remote_addr=remote_addr,
        )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def token_revoke(*, token: ApiToken, user, remote_addr=None) -> ApiToken:
    """Revoke one of the user's own tokens (an admin may revoke anyone's); revoking twice changes nothing."""
    if token.user_id != user.pk and not user.is_superuser:
        raise TokenError("You can revoke only your own tokens.")
    if token.revoked_at is None:
        with transaction.atomic():
            now = timezone.now()
            ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
            token.revoked_at = now
            services.audit_record(
                action="token_revoke",
                user=user,
                message=f"API token {token.name!r} (rpd_{token.prefix}_…) of {token.user.get_username()} revoked",
                remote_addr=remote_addr,
            )
        token_revoked.send(sender=ApiToken, token=token)
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token for a raw bearer token, with its user loaded; None if unknown, revoked, expired or the
    owner is inactive. Compares in constant time and records the last use at most once a minute."""
    parts = _split(raw)
    if parts is None:
        return None
    prefix, secret = parts
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    matches = hmac.compare_digest(token.secret_hash if token else _MISS_HASH, _hash(secret))
    now = timezone.now()
    if token is None or not matches or not token.is_usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets of any length (hashed first, so lengths leak nothing either)."""
    return hmac.compare_digest(_hash(given), _hash(expected))
