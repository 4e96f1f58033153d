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
