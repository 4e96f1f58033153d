"""Every decision and write about jobs and endpoints. Views and tasks call these; nothing else writes."""

from .actions import (
    attempt_changes,
    check_submission,
    endpoint_purge_queue,
    endpoint_require_enabled,
    job_cancel,
    job_create,
    job_retry,
    job_run_again,
    job_submit,
    job_track,
)
from .audit import audit_record
from .bulk import (
    BulkPreview,
    ConfirmError,
    bulk_actions_orphaned,
    bulk_decide,
    bulk_preview,
    bulk_run,
    bulk_start,
    bulk_stop,
)
from .costs import endpoint_price_set, price_parse
from .endpoints import StopReason, endpoints_pollable
from .errors import ActionError, InputError, describe_error
from .health import endpoints_snapshot_health, history_prune
from .polling import poll_round
from .sending import SendLater, job_send, jobs_send_lost
from .state import job_apply_state, job_transition
from .tracking import job_stop_tracking

__all__ = [
    "ActionError",
    "BulkPreview",
    "ConfirmError",
    "InputError",
    "SendLater",
    "StopReason",
    "attempt_changes",
    "audit_record",
    "bulk_actions_orphaned",
    "bulk_decide",
    "bulk_preview",
    "bulk_run",
    "bulk_start",
    "bulk_stop",
    "check_submission",
    "describe_error",
    "endpoint_price_set",
    "endpoint_purge_queue",
    "endpoint_require_enabled",
    "endpoints_pollable",
    "endpoints_snapshot_health",
    "history_prune",
    "job_apply_state",
    "job_cancel",
    "job_create",
    "job_retry",
    "job_run_again",
    "job_send",
    "job_stop_tracking",
    "job_submit",
    "job_track",
    "job_transition",
    "jobs_send_lost",
    "poll_round",
    "price_parse",
]
