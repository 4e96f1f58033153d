"""Every decision and write about jobs and endpoints. Views and tasks call these; nothing else writes."""

from .actions import (
    ActionError,
    InputError,
    audit_record,
    check_submission,
    describe_error,
    endpoint_purge_queue,
    job_cancel,
    job_retry,
    job_run_again,
    job_submit,
    job_track,
)
from .health import endpoints_snapshot_health, history_prune
from .polling import endpoints_pollable, poll_round
from .sending import SendLater, job_send, jobs_send_lost
from .state import job_apply_state

__all__ = [
    "ActionError",
    "InputError",
    "SendLater",
    "audit_record",
    "check_submission",
    "describe_error",
    "endpoint_purge_queue",
    "endpoints_pollable",
    "endpoints_snapshot_health",
    "history_prune",
    "job_apply_state",
    "job_cancel",
    "job_retry",
    "job_run_again",
    "job_send",
    "job_submit",
    "job_track",
    "jobs_send_lost",
    "poll_round",
]
