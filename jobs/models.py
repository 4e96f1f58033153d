"""What we keep of RunPod: endpoints, every job with its history, stream chunks, health and the audit trail.

RunPod forgets a /run result 30 minutes after completion, a /runsync result after 60 seconds and a stream chunk
once read; these tables keep all of it for as long as we choose.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from . import constants

# FINAL_STATES and LOCAL_FINAL_STATES are still imported from here by older code.
from .constants import CANCELLABLE_STATES, FINAL_STATES, LOCAL_FINAL_STATES, RETRYABLE_STATES, is_final  # noqa: F401
from .fields import EncryptedTextField


class JobStatus(models.TextChoices):
    # Local states, before RunPod knows the job.
    PENDING = constants.PENDING, "Pending"
    SUBMIT_FAILED = constants.SUBMIT_FAILED, "Submit failed"
    # RunPod's states.
    IN_QUEUE = constants.IN_QUEUE, "In queue"
    IN_PROGRESS = constants.IN_PROGRESS, "In progress"
    COMPLETED = constants.COMPLETED, "Completed"
    FAILED = constants.FAILED, "Failed"
    CANCELLED = constants.CANCELLED, "Cancelled"
    TIMED_OUT = constants.TIMED_OUT, "Timed out"


def default_base_url():
    return settings.RUNPOD_BASE_URL


class Endpoint(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Display name.")
    runpod_id = models.CharField("RunPod endpoint id", max_length=100)
    base_url = models.URLField(
        max_length=300, default=default_base_url, help_text="RunPod's API base, without the endpoint id."
    )
    # Encrypted at rest; never rendered back into a form, page, log or audit entry.
    api_key = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True)

    # Poll cadence, seconds.
    poll_running_seconds = models.FloatField(default=2.0, help_text="Between status polls of a running job.")
    poll_queued_seconds = models.FloatField(default=3.0, help_text="First interval for a queued job.")
    poll_queued_max_seconds = models.FloatField(default=30.0, help_text="Longest interval for a long-queued job.")

    # Documented limits (per 10 s and at once); lower them for a key shared with other tools.
    status_rate_per_10s = models.PositiveIntegerField(default=2000)
    status_concurrency = models.PositiveIntegerField(default=400)
    run_rate_per_10s = models.PositiveIntegerField(default=1000)

    # What the poller knows of the endpoint's health; written by services, read by pages.
    auth_failed_at = models.DateTimeField(null=True, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    backoff_count = models.PositiveIntegerField(default=0)
    # Every 429 RunPod gave the poller for this endpoint, never reset: /metrics exports it as a counter.
    rate_limited_total = models.PositiveBigIntegerField(default=0)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_health_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Set when RunPod answers 404 for the endpoint itself (a wrong id), so jobs are not marked expired for it.
    not_found_at = models.DateTimeField(null=True, blank=True)

    # Coordination between pollers, kept in the database so it needs nothing but the database: one poller holds
    # an endpoint at a time (a lease that runs out if its worker dies), and the status calls it made recently
    # (per-second counts) so every worker stays inside the endpoint's limit.
    poll_lock_until = models.DateTimeField(null=True, blank=True)
    poll_lock_token = models.CharField(max_length=40, blank=True)
    status_calls = models.JSONField(default=dict, blank=True)

    # What one second of a worker's GPU time costs, in US dollars; null means no price is set (costs are then shown
    # as unknown, never as zero). Eight decimal places hold RunPod's per-second prices exactly.
    price_per_second = models.DecimalField(
        "price per second (USD)",
        max_digits=12,
        decimal_places=8,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What one second of GPU time costs on this endpoint. Leave empty when unknown.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["base_url", "runpod_id"], name="endpoint_unique_runpod_id")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("endpoint_detail", args=[self.pk])

    @property
    def key_refused(self) -> bool:
        return self.auth_failed_at is not None


class Job(models.Model):
    class Mode(models.TextChoices):
        RUN = "run", "/run"
        RUNSYNC = "runsync", "/runsync"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="jobs")
    # Null until RunPod has answered /run; opaque (uuid, sync-uuid, uuid-u1, ...).
    runpod_id = models.CharField("RunPod job id", max_length=constants.RUNPOD_ID_MAX_LENGTH, null=True, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.RUN)
    streaming = models.BooleanField(default=False, help_text="Read through /stream rather than /status.")
    tracked = models.BooleanField(default=False, help_text="Submitted elsewhere and tracked here by id.")
    # Any string RunPod sends is kept, known or not.
    status = models.CharField(max_length=constants.STATUS_MAX_LENGTH, default=JobStatus.PENDING, db_index=True)

    input = models.JSONField(null=True, blank=True)
    webhook = models.URLField(max_length=1000, blank=True)
    policy = models.JSONField(null=True, blank=True)
    s3_config = EncryptedTextField(blank=True, help_text="JSON; holds secrets, never shown.")

    output = models.JSONField(null=True, blank=True)
    has_output = models.BooleanField(default=False)
    progress = models.JSONField(null=True, blank=True, help_text="Latest in-progress output update.")
    error_raw = models.TextField(blank=True)
    error = models.JSONField(null=True, blank=True, help_text="error_raw parsed, when it is JSON.")
    submit_error = models.TextField(blank=True)
    delay_ms = models.BigIntegerField(null=True, blank=True)
    execution_ms = models.BigIntegerField(null=True, blank=True)
    worker_id = models.CharField(max_length=constants.WORKER_ID_MAX_LENGTH, blank=True)
    retries = models.PositiveIntegerField(default=0)
    # The status object as last read, unknown fields included.
    last_raw = models.JSONField(null=True, blank=True)

    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The job this one is a new attempt of (edit and run, run again): the chain of attempts on a job's page.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The job this one is a new attempt of.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When RunPod first answered for this job.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # When RunPod will drop the job (retention after completion, or policy ttl before it).
    expires_at = models.DateTimeField(null=True, blank=True)

    # Polling bookkeeping: null next_poll_at means nothing left to fetch.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    poll_failures = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=40, blank=True)
    stream_seq = models.PositiveIntegerField(default=0, help_text="Sequence number of the next stream chunk.")
    # A caller reading the stream through the RunPod-compatible proxy holds it until then; the poller leaves /stream
    # to that caller meanwhile (two readers would split the drained chunks) and takes over once it runs out.
    stream_reader_until = models.DateTimeField(null=True, blank=True)
    # The next chunk the proxy's callers have not been given, so each chunk reaches them once, in order, even the
    # ones the poller drained before a caller came.
    stream_served_seq = models.PositiveIntegerField(default=0)

    archived = models.BooleanField(default=False, help_text="Final, and everything RunPod had is stored here.")
    expired = models.BooleanField(default=False, help_text="RunPod dropped it before we could archive it.")
    not_found = models.BooleanField(default=False, help_text="RunPod never knew this id.")
    completed_without_output = models.BooleanField(default=False)
    # Someone chose to stop following it (a bulk "stop tracking"): it is no longer polled; its history stays.
    tracking_stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("operate_job", "Can submit, cancel and retry jobs and purge queues")]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "runpod_id"], condition=Q(runpod_id__isnull=False), name="job_unique_runpod_id"
            )
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="job_list"),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="job_list_endpoint"),
            models.Index(fields=["status", "-created_at", "-id"], name="job_list_status"),
            models.Index(fields=["endpoint", "status", "-created_at", "-id"], name="job_list_endpoint_status"),
            models.Index(fields=["submitted_by", "-created_at", "-id"], name="job_list_user"),
            models.Index(fields=["runpod_id"], name="job_runpod_id"),
            models.Index(fields=["endpoint", "next_poll_at"], condition=Q(next_poll_at__isnull=False), name="job_due"),
            models.Index(fields=["endpoint", "finished_at"], name="job_finished"),
        ]

    def __str__(self):
        return self.runpod_id or f"job {self.pk} (not submitted)"

    def get_absolute_url(self):
        return reverse("job_detail", args=[self.pk])

    @property
    def is_final(self) -> bool:
        return is_final(self.status)

    @property
    def is_known_status(self) -> bool:
        return self.status in JobStatus.values

    @property
    def can_cancel(self) -> bool:
        return self.runpod_id is not None and self.status in CANCELLABLE_STATES

    @property
    def can_retry(self) -> bool:
        return self.runpod_id is not None and self.status in RETRYABLE_STATES and not self.expired


class StatusTransition(models.Model):
    """One row per status change we observed or caused."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=constants.STATUS_MAX_LENGTH, blank=True)
    to_status = models.CharField(max_length=constants.STATUS_MAX_LENGTH)
    at = models.DateTimeField(default=timezone.now)
    # poll, stream, submit, cancel, retry, track, expire
    source = models.CharField(max_length=20)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["job", "at"], name="transition_job")]

    def __str__(self):
        return f"{self.from_status or '-'} -> {self.to_status}"


class StreamChunk(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    output = models.JSONField(null=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="chunk_unique_seq")]

    def __str__(self):
        return f"chunk {self.seq} of job {self.job_id}"


class EndpointCallCount(models.Model):
    """Calls the RunPod-compatible proxy made to an endpoint, per limit bucket and second.

    The poller keeps its own count on the Endpoint row (written only by the lease holder); web processes cannot
    join that, so their calls are counted here with atomic increments, and each side reads both before calling.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    bucket = models.CharField(max_length=20)
    second = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "bucket", "second"], name="call_count_unique_second")
        ]

    def __str__(self):
        return f"{self.count} {self.bucket} calls to {self.endpoint_id} at {self.second}"


class HealthSnapshot(models.Model):
    """One /health answer: the time series behind the queue and worker charts."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="health_snapshots")
    taken_at = models.DateTimeField(default=timezone.now)
    jobs_completed = models.IntegerField(default=0)
    jobs_failed = models.IntegerField(default=0)
    jobs_in_progress = models.IntegerField(default=0)
    jobs_in_queue = models.IntegerField(default=0)
    jobs_retried = models.IntegerField(default=0)
    workers_idle = models.IntegerField(default=0)
    workers_initializing = models.IntegerField(default=0)
    workers_ready = models.IntegerField(default=0)
    workers_running = models.IntegerField(default=0)
    workers_throttled = models.IntegerField(default=0)
    workers_unhealthy = models.IntegerField(default=0)
    raw = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "taken_at"]
        indexes = [models.Index(fields=["endpoint", "-taken_at"], name="health_endpoint_time")]

    def __str__(self):
        return f"health of {self.endpoint_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"

    @property
    def workers_total(self) -> int:
        return sum(getattr(self, name) for name in constants.HEALTH_WORKER_COUNTS)


class AuditEntry(models.Model):
    """Who did what to which job or endpoint, when, and how it went."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        DENIED = "denied", "Denied"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Kept as text so the trail survives the user's deletion.
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40)
    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.SET_NULL)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    message = models.TextField(blank=True)
    detail = models.JSONField(null=True, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.username or 'system'} {self.action} ({self.outcome})"


class BulkAction(models.Model):
    """One action over every job a jobs-list filter matched: its items are the jobs, fixed when it started."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Cancel"
        RETRY = "retry", "Retry"
        RUN_AGAIN = "run_again", "Run again"
        STOP_TRACKING = "stop_tracking", "Stop tracking"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        DONE = "done", "Done"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    # The jobs list's query string when it started, to show and link back to what was matched.
    filter_query = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_requested_by = models.CharField(max_length=150, blank=True)
    # One task works on a batch at a time (a lease that runs out if its worker dies); kicked_at is when the poll
    # tick last enqueued it, so a batch waiting in the broker is not enqueued again and again.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=40, blank=True)
    kicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "lease_until"], name="bulk_running")]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.total} job(s)"

    def get_absolute_url(self):
        return reverse("bulk_detail", args=[self.pk])


class BulkItem(models.Model):
    """One job of a bulk action. Claimed with a conditional UPDATE before it is acted on, so a restarted worker
    never acts on a job a second time."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        CLAIMED = "claimed", "In progress"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    bulk = models.ForeignKey(BulkAction, on_delete=models.CASCADE, related_name="items")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    # For run again: the job it created.
    new_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["bulk", "id"]
        constraints = [models.UniqueConstraint(fields=["bulk", "job"], name="bulk_item_unique_job")]
        indexes = [models.Index(fields=["bulk", "state", "id"], name="bulk_item_state")]

    def __str__(self):
        return f"job {self.job_id} in bulk {self.bulk_id}: {self.state}"


class Heartbeat(models.Model):
    """When a worker last took a poll tick off the queue, and when beat last sent one: `manage.py health` compares
    them to find a worker that stopped consuming (celery/celery#10205, #10302) while ticks kept coming."""

    BEAT = "beat"

    # "beat", or "worker:<Celery hostname>" (celery@host).
    name = models.CharField(max_length=200, unique=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
