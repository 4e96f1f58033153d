"""Facts about jobs, defined once and imported everywhere: the states, the sets they fall in, and size limits.

Plain Python with no Django import, so the RunPod client (which knows nothing of models) shares them too.
"""

# Local states, before RunPod knows the job.
PENDING = "PENDING"
SUBMIT_FAILED = "SUBMIT_FAILED"
# RunPod's states (runpod-api.md, Job states).
IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
# What we store for a missing or empty status, and the spelling some documents use for IN_PROGRESS.
UNKNOWN = "UNKNOWN"
STATUS_SYNONYMS = {"RUNNING": IN_PROGRESS}

# Not states: a transition row names these when RunPod forgot a job (404) and the status column keeps the last
# status RunPod reported.
EXPIRED = "EXPIRED"
NOT_FOUND = "NOT_FOUND"
GONE_EVENTS = frozenset({EXPIRED, NOT_FOUND})

# RunPod's final states.
FINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})
# Local states that end a job's life here without RunPod ever having it.
LOCAL_FINAL_STATES = frozenset({SUBMIT_FAILED})
# Still changing: pages refresh these, and count them as active.
ACTIVE_STATES = frozenset({PENDING, IN_QUEUE, IN_PROGRESS})
QUEUED_STATES = frozenset({IN_QUEUE})
RUNNING_STATES = frozenset({IN_PROGRESS, "RUNNING"})
CANCELLABLE_STATES = frozenset({IN_QUEUE, IN_PROGRESS})
RETRYABLE_STATES = frozenset({FAILED, TIMED_OUT})
# Counted as failures by charts and stats: the final states a retry can restart.
FAILED_STATES = RETRYABLE_STATES

# RunPod's default executionTimeout, when a job's policy sets none (runpod-api.md, Request options).
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000

# The counters of a /health answer, as the client's Health result and HealthSnapshot name them.
HEALTH_JOB_COUNTS = ("jobs_completed", "jobs_failed", "jobs_in_progress", "jobs_in_queue", "jobs_retried")
HEALTH_WORKER_COUNTS = (
    "workers_idle",
    "workers_initializing",
    "workers_ready",
    "workers_running",
    "workers_throttled",
    "workers_unhealthy",
)
HEALTH_COUNTS = HEALTH_JOB_COUNTS + HEALTH_WORKER_COUNTS

# Column sizes: a RunPod job id (about 40 characters in practice), a status, a worker id.
RUNPOD_ID_MAX_LENGTH = 200
STATUS_MAX_LENGTH = 40
WORKER_ID_MAX_LENGTH = 200
# How many job ids one request may name (a page's live rows).
JOB_IDS_PER_REQUEST = 200


def is_final(status: str) -> bool:
    """Unknown states are not final: we keep polling and keep them visible."""
    return status in FINAL_STATES or status in LOCAL_FINAL_STATES
