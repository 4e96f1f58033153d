"""The audit trail, newest first, filtered as on the audit page."""

from typing import Literal

from ninja import Field, Query, Router, Schema

from jobs import selectors

from ..schemas import COMMON_ERRORS, AuditPage, Error
from .jobs import PageQuery, decode_cursor

router = Router(tags=["audit"])


class AuditQuery(Schema):
    action: str = Field("", max_length=40, description="submit, track, cancel, retry, purge, token_create, ...")
    outcome: Literal["", "ok", "error", "denied"] = ""
    username: str = Field("", max_length=150)
    endpoint: int | None = None


@router.get("/audit", response={**COMMON_ERRORS, 200: AuditPage, 422: Error}, summary="Who did what, newest first")
def audit_list(request, query: Query[AuditQuery], page: Query[PageQuery]):
    filters = selectors.AuditFilters(
        action=query.action, outcome=query.outcome, username=query.username, endpoint_id=query.endpoint
    )
    entries, older, _ = selectors.audit_list(filters, after=decode_cursor(page.cursor), limit=page.limit)
    return {
        "entries": [
            {
                "id": entry.pk,
                "at": entry.at,
                "username": entry.username,
                "action": entry.action,
                "outcome": entry.outcome,
                "message": entry.message,
                "endpoint": {"id": entry.endpoint.pk, "name": entry.endpoint.name} if entry.endpoint else None,
                "job_id": entry.job_id,
                "remote_addr": entry.remote_addr,
            }
            for entry in entries
        ],
        "next_cursor": older,
    }
