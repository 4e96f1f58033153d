"""The RunPod-compatible proxy's decisions: who may call, forwarding within the budget, recording what passes."""

from .access import caller_authenticate, caller_check_role, endpoint_for
from .jobs import (
    job_status_object,
    proxy_cancel,
    proxy_health,
    proxy_purge,
    proxy_retry,
    proxy_status,
    proxy_status_sync,
    proxy_stream,
)
from .submit import proxy_submit

__all__ = [
    "caller_authenticate",
    "caller_check_role",
    "endpoint_for",
    "job_status_object",
    "proxy_cancel",
    "proxy_health",
    "proxy_purge",
    "proxy_retry",
    "proxy_status",
    "proxy_status_sync",
    "proxy_stream",
    "proxy_submit",
]
