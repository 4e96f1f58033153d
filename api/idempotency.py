"""Idempotent submits: a script that retries a timed-out POST with the same Idempotency-Key gets the first job
back, never a second one (this is where duplicate RunPod jobs would otherwise come from)."""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import ApiError
from .models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
KEY_MAX_LENGTH = IdempotencyKey._meta.get_field("key").max_length


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise ApiError(
            400, "bad_idempotency_key", f"Idempotency-Key must be 1 to {KEY_MAX_LENGTH} printable characters."
        )
    return key


def _replay(found: IdempotencyKey, fingerprint_: str):
    if found.fingerprint != fingerprint_:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used in the last 24 h for a different request: use a new key.",
        )
    return found.job


def _live(user, key, now):
    """The key's row if it is younger than 24 h; an older one is deleted (conditionally: a racer may renew it)."""
    found = IdempotencyKey.objects.select_related("job").filter(user=user, key=key).first()
    if found is not None and now - found.created_at >= KEY_LIFETIME:
        IdempotencyKey.objects.filter(pk=found.pk, created_at=found.created_at).delete()
        return None
    return found


def submit_once(*, user, key: str, body: bytes, submit):
    """Run submit() (which creates and returns a Job) at most once per (user, key) in 24 h.

    1. A live key answers with its job (or 409 when the body differs), without submitting.
    2. Otherwise the job and the key row are created in one transaction. A concurrent retry with the same key
       waits on the key's unique index; when the first commits, its insert fails, its own job is rolled back
       before anything was sent (the send is enqueued only on commit), and it answers with the first job.
    Returns (job, replayed).
    """
    print_ = fingerprint(body)
    found = _live(user, key, timezone.now())
    if found is not None:
        return _replay(found, print_), True
    try:
        with transaction.atomic():
            job = submit()
            IdempotencyKey.objects.create(user=user, key=key, fingerprint=print_, job=job)
        keys_prune()
    except IntegrityError:
        found = _live(user, key, timezone.now())
        if found is None:
            raise
        return _replay(found, print_), True
    return job, False


def keys_prune(now=None, batch=100) -> int:
    """Delete up to `batch` keys past their 24 h. Each new key prunes a batch, so the table stays near one day
    of keys without a task of its own, and no single request pays for a big delete."""
    cutoff = (now or timezone.now()) - KEY_LIFETIME
    old = list(IdempotencyKey.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
    return IdempotencyKey.objects.filter(pk__in=old).delete()[0] if old else 0
