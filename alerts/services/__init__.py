"""Every decision and write about alerts. Alerts read job state and never write it."""

from .actions import alert_acknowledge, alert_silence, silence_end
from .channels import deliveries_overdue, delivery_send
from .heartbeat import Stall, poll_heartbeat, polling_stall
from .lifecycle import alerts_sync
from .rules import Finding, rules_evaluate
from .tick import alerts_evaluate

__all__ = [
    "Finding",
    "Stall",
    "alert_acknowledge",
    "alert_silence",
    "alerts_evaluate",
    "alerts_sync",
    "deliveries_overdue",
    "delivery_send",
    "poll_heartbeat",
    "polling_stall",
    "rules_evaluate",
    "silence_end",
]
