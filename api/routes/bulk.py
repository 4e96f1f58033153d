"""Bulk actions over the jobs page's filters: the dry run, the start (typed count above the threshold, as on the
page), the progress and the stop; the same services, roles and audit as the bulk page."""

from typing import Literal

from django.http import Http404
from ninja import Field, Router, Schema, Status

from jobs import services
from jobs.models import BulkAction
from jobs.selectors.bulk import bulk_progress

from ..auth import client_ip, operator_required
from ..errors import ApiError, from_action_error
from ..schemas import BODY_ERRORS, COMMON_ERRORS, Error
from .jobs import JobQuery

router = Router(tags=["bulk actions"])

Kind = Literal["cancel", "retry", "run_again", "stop_tracking"]


class BulkIn(Schema):
    kind: Kind
    filters: JobQuery = Field(default_factory=JobQuery, description="The jobs page's filters, by the same names.")
    confirm: str = Field("", max_length=20, description="The number of jobs, needed above the threshold.")


class PreviewOut(Schema):
    kind: str
    total: int
    acted: int
    skipped: int
    endpoints: list[dict]
    outcomes: list[dict]


class BulkOut(Schema):
    id: int
    kind: str
    state: str
    total: int
    done: int
    skipped: int
    failed: int
    left: int
    stop_requested: bool
    reasons: list[dict]
    created_by: str | None
    created_at: str
    finished_at: str | None


def _preview_out(preview) -> dict:
    return {
        "kind": preview.kind,
        "total": preview.total,
        "acted": preview.acted,
        "skipped": preview.skipped,
        "endpoints": [{"name": name, "jobs": n, "acted": acted} for name, n, acted in preview.endpoints],
        "outcomes": [
            {"acts": act, "what": reason, "statuses": statuses, "jobs": n}
            for act, reason, statuses, n in preview.outcomes
        ],
    }


def _bulk_out(pk) -> dict:
    try:
        progress = bulk_progress(pk)
    except BulkAction.DoesNotExist:
        raise Http404("No such bulk action.") from None
    bulk = progress.bulk
    return {
        "id": bulk.pk,
        "kind": bulk.kind,
        "state": bulk.state,
        "total": bulk.total,
        "done": progress.counts.get("done", 0),
        "skipped": progress.counts.get("skipped", 0),
        "failed": progress.counts.get("failed", 0),
        "left": progress.left,
        "stop_requested": bulk.stop_requested_at is not None,
        "reasons": [{"state": state, "reason": reason, "jobs": n} for state, reason, n in progress.reasons],
        "created_by": bulk.created_by.username if bulk.created_by else None,
        "created_at": bulk.created_at.isoformat(),
        "finished_at": bulk.finished_at.isoformat() if bulk.finished_at else None,
    }


@router.post(
    "/bulk-actions/preview",
    response={**COMMON_ERRORS, **BODY_ERRORS, 200: PreviewOut, 403: Error},
    summary="The dry run: how many jobs, on which endpoints, what happens to each kind",
)
def bulk_preview(request, payload: BulkIn):
    operator_required(request, "bulk")
    return _preview_out(services.bulk_preview(kind=payload.kind, filters=payload.filters.filters()))


@router.post(
    "/bulk-actions",
    response={**COMMON_ERRORS, **BODY_ERRORS, 201: BulkOut, 403: Error, 422: Error},
    summary="Start a bulk action over every job the filters match (operators)",
)
def bulk_start(request, payload: BulkIn):
    operator_required(request, "bulk")
    query = {k: v for k, v in payload.filters.dict().items() if v not in (None, "")}
    try:
        bulk = services.bulk_start(
            kind=payload.kind,
            filters=payload.filters.filters(),
            filter_query="&".join(f"{k}={v}" for k, v in query.items()),
            confirm=payload.confirm,
            user=request.user,
            remote_addr=client_ip(request),
        )
    except services.ConfirmError as exc:
        raise ApiError(422, "confirm", str(exc), field="confirm") from exc
    except services.ActionError as exc:
        raise from_action_error(exc) from exc
    return Status(201, _bulk_out(bulk.pk))


@router.get(
    "/bulk-actions/{int:bulk_id}",
    response={**COMMON_ERRORS, 200: BulkOut, 404: Error},
    summary="A bulk action's progress",
)
def bulk_detail(request, bulk_id: int):
    return _bulk_out(bulk_id)


@router.post(
    "/bulk-actions/{int:bulk_id}/stop",
    response={**COMMON_ERRORS, 200: BulkOut, 403: Error, 404: Error},
    summary="Stop a running bulk action after the jobs in hand",
)
def bulk_stop(request, bulk_id: int):
    operator_required(request, "bulk")
    bulk = BulkAction.objects.filter(pk=bulk_id).first()
    if bulk is None:
        raise Http404("No such bulk action.")
    services.bulk_stop(bulk=bulk, user=request.user, remote_addr=client_ip(request))
    return _bulk_out(bulk_id)
