"""The audit trail, newest first, and the choices its filters offer."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from jobs.models import AuditEntry

from .paging import keyset_page

# The actions the filter offers: the ones services record (a DISTINCT over the whole trail would scan it).
AUDIT_ACTIONS = (
    "submit",
    "track",
    "cancel",
    "retry",
    "purge",
    "webhook",
    "login",
    "endpoint_create",
    "endpoint_change",
    "endpoint_delete",
    "job_admin_edit",
    "job_admin_delete",
    "stop_tracking",
    "bulk_cancel",
    "bulk_retry",
    "bulk_run_again",
    "bulk_stop_tracking",
    "saved_view_create",
    "saved_view_rename",
    "saved_view_delete",
)


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    outcome: str = ""
    username: str = ""
    endpoint_id: int | None = None

    def apply(self, qs):
        if self.action:
            qs = qs.filter(action=self.action)
        if self.outcome:
            qs = qs.filter(outcome=self.outcome)
        if self.username:
            qs = qs.filter(username=self.username)
        if self.endpoint_id is not None:
            qs = qs.filter(endpoint_id=self.endpoint_id)
        return qs


def audit_list(filters: AuditFilters, *, after=None, before=None, limit=50):
    qs = filters.apply(
        AuditEntry.objects.select_related("endpoint", "job").only(
            "id",
            "at",
            "username",
            "action",
            "outcome",
            "message",
            "remote_addr",
            "endpoint__id",
            "endpoint__name",
            "job__id",
            "job__runpod_id",
        )
    )
    return keyset_page(qs, time_field="at", after=after, before=before, limit=limit)


def users_for_filter():
    """(id, username) of up to 500 users, for the 'submitted by' and 'who' filters."""
    return list(get_user_model().objects.order_by("username").values_list("id", "username")[:500])
