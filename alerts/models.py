"""What alerts keep: per-endpoint rule settings, each alert's firing and resolution with their evidence,
silences, the channels that carry them and every delivery attempt, error groups, and the poll heartbeat."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.fields import EncryptedTextField
from jobs.models import Endpoint, Job


class RuleKind(models.TextChoices):
    STUCK_QUEUE = "stuck_queue", "Stuck queue"
    FAILURE_RATE = "failure_rate", "Failure rate"
    RUNAWAY = "runaway", "Runaway jobs"
    NO_OUTPUT = "no_output", "Completed without output"
    RESULTS_AT_RISK = "results_at_risk", "Results at risk"
    POLLING_STALLED = "polling_stalled", "Polling stalled"


class RuleSetting(models.Model):
    """Thresholds for one rule: for one endpoint, or (endpoint blank) for every endpoint without its own row."""

    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    enabled = models.BooleanField(default=True)
    threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Stuck queue: seconds waiting (120). Failure rate: percent (20). Runaway: grace seconds past the "
        "timeout (60). Without output: more than this many (2). Results at risk: percent of retention (50). "
        "Polling stalled: seconds (60). Blank: the default.",
    )
    window_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Failure rate and without output: the window (600). Blank: the default."
    )
    min_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Failure rate: finished jobs needed in the window (5). Blank: the default."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "kind"], name="rule_setting_unique"),
            models.UniqueConstraint(fields=["kind"], condition=Q(endpoint__isnull=True), name="rule_default_unique"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.endpoint or 'every endpoint'}"


class Alert(models.Model):
    """One episode of a rule's condition: it fires once, stays firing while the condition holds, resolves once."""

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    # The rule and what it is about ("stuck_queue:12"): at most one firing alert per key.
    key = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.FIRING)
    summary = models.TextField(help_text="The sentence people receive: what is wrong and why.")
    evidence = models.JSONField(default=dict, help_text="Numbers, diagnosis and links when it fired.")
    latest = models.JSONField(default=dict, help_text="The same, as last evaluated.")
    resolution = models.JSONField(null=True, blank=True, help_text="The evidence when it resolved.")
    fired_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # Set while the condition is gone but the hold-down has not passed; a return within it keeps the alert.
    clear_since = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledge_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(state="firing"), name="alert_one_firing_per_key")
        ]
        indexes = [
            models.Index(fields=["state", "-fired_at"], name="alert_state_time"),
            models.Index(fields=["endpoint", "state"], name="alert_endpoint_state"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.state}): {self.summary[:80]}"


class Silence(models.Model):
    """No notifications for a rule on an endpoint until `until`; its alerts still show on the page."""

    key = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField()
    reason = models.TextField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-until"]

    def __str__(self):
        return f"{self.key} silenced until {self.until:%Y-%m-%d %H:%M}"


class Channel(models.Model):
    """Where alerts go. URLs and signing secrets are encrypted at rest and never shown again."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        WEBHOOK = "webhook", "JSON webhook (HMAC signed)"
        EMAIL = "email", "Email"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    # Slack's webhook URL is itself the credential, so both URL kinds are kept encrypted.
    url = EncryptedTextField(blank=True, help_text="Slack or webhook URL (stored encrypted, never shown).")
    secret = EncryptedTextField(blank=True, help_text="Webhook: HMAC-SHA256 signing key (stored encrypted).")
    recipients = models.TextField(blank=True, help_text="Email: addresses, comma-separated.")
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


class Delivery(models.Model):
    """One message (an alert's firing or resolution) to one channel; sent at most once."""

    class Event(models.TextChoices):
        FIRED = "fired", "Fired"
        RESOLVED = "resolved", "Resolved"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Held by the task sending it, so a redelivered task cannot send it twice at once.
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["alert", "channel", "event"], name="delivery_once")]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due")]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.event} of alert {self.alert_id} to {self.channel} ({self.state})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"attempt at {self.at:%H:%M:%S}: {'ok' if self.ok else self.error[:60]}"


class ErrorGroup(models.Model):
    """Failures with the same signature: the error type and its message with numbers, ids, paths and hex masked."""

    signature = models.CharField(max_length=40, unique=True)
    error_type = models.CharField(max_length=200)
    message = models.TextField(help_text="The masked message.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self):
        return f"{self.error_type}: {self.message[:80]}"

    @property
    def title(self) -> str:
        return f"{self.error_type}: {self.message}" if self.message else self.error_type


class JobFailure(models.Model):
    """A failed or timed-out job in its error group (one row per job, written once by the alerts tick)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="failure")
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="failures")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=40)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["at"], name="failure_time"),
            models.Index(fields=["endpoint", "at"], name="failure_endpoint_time"),
            models.Index(fields=["group", "-at"], name="failure_group_time"),
        ]

    def __str__(self):
        return f"job {self.job_id} in group {self.group_id}"


class LostResult(models.Model):
    """A job RunPod dropped before we archived it: data lost, always alerted."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["endpoint", "at"], name="lost_endpoint_time")]

    def __str__(self):
        return f"job {self.job_id} lost at {self.at:%Y-%m-%d %H:%M:%S}"


class Marker(models.Model):
    """Small named timestamps and cursors: when a poll round last finished, how far the transition feed was read."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField(null=True, blank=True)
    position = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}: {self.at} / {self.position}"
