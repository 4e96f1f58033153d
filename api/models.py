"""Personal API tokens: a program acts as the person who made the token, with that person's role."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token. Only a SHA-256 of its secret is kept; the raw token is shown once, when it is made.

    The raw token reads `rpd_<prefix>_<secret>`: the prefix finds the row with one indexed lookup, and the
    secret's hash is compared in constant time. The secret is 256 random bits, so a fast hash is enough (a
    slow password hash would only slow every API call down; nothing short of the secret can be guessed).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, so its owner can tell them apart.")
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown in lists; not a secret.")
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user")]

    def __str__(self):
        return f"{self.name} (rpd_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def is_usable(self, now=None) -> bool:
        return not self.is_revoked and not self.is_expired(now) and self.user.is_active


class IdempotencyKey(models.Model):
    """A submit's Idempotency-Key, held for 24 hours: the same key from the same user returns the first job.

    The row is inserted in the transaction that creates the job, so two concurrent retries race on the unique
    constraint and the loser reads the winner's job: never a second RunPod job.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    # SHA-256 of the request body: the same key with a different body is a client bug, answered 422.
    fingerprint = models.CharField(max_length=64)
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")]

    def __str__(self):
        return f"{self.key} -> job {self.job_id}"


class MetricTally(models.Model):
    """Running totals behind /metrics' counters and histograms, one row per endpoint.

    Counters must only grow, but job rows are retried (FAILED goes back to IN_QUEUE) and pruned; so the totals are
    summed from status transitions as they settle and kept here, never recounted. Every web process reads and
    advances the same rows, so every scrape agrees whichever process answers it.
    """

    endpoint = models.OneToOneField("jobs.Endpoint", on_delete=models.CASCADE, primary_key=True, related_name="+")
    data = models.JSONField(default=dict)

    def __str__(self):
        return f"metric totals of endpoint {self.endpoint_id}"


class MetricMark(models.Model):
    """How far MetricTally has counted: the last StatusTransition id summed in (one row, name='transitions')."""

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name} counted to {self.last_id}"
