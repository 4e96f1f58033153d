"""Endpoints with their newest health and last hour's counts, health series, and purging a queue."""

from datetime import timedelta
from typing import Literal

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema

from jobs import selectors, services
from jobs.costs import price_text
from jobs.models import Endpoint

from ..auth import client_ip, operator_required
from ..errors import ApiError, from_action_error
from ..schemas import BODY_ERRORS, COMMON_ERRORS, EndpointOut, Error, HealthSeries, PurgeIn, PurgeOut

router = Router(tags=["endpoints"])

WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}


def endpoint_out(summary) -> dict:
    endpoint, health, hour = summary.endpoint, summary.health, summary.last_hour
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "runpod_id": endpoint.runpod_id,
        "enabled": endpoint.enabled,
        "state": summary.state,
        "warnings": [{"level": level, "message": message} for level, message in summary.warnings],
        "health": health,
        "last_hour": {
            "completed": hour.completed,
            "failed": hour.failed,
            "cancelled": hour.cancelled,
            "delay_ms": vars(hour.delay),
            "execution_ms": vars(hour.execution),
        },
        "last_poll_at": endpoint.last_poll_at,
        "price_per_second_usd": price_text(endpoint.price_per_second),
    }


@router.get(
    "/endpoints",
    response={**COMMON_ERRORS, 200: list[EndpointOut]},
    summary="Every endpoint, its newest health and last hour",
)
def endpoint_list(request):
    now = timezone.now()
    return [endpoint_out(summary) for summary in selectors.overview_endpoints(now, points=1)]


def _summary_or_404(pk, now):
    try:
        return selectors.endpoint_summary(pk, now)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None


@router.get(
    "/endpoints/{int:endpoint_id}", response={**COMMON_ERRORS, 200: EndpointOut, 404: Error}, summary="One endpoint"
)
def endpoint_get(request, endpoint_id: int):
    return endpoint_out(_summary_or_404(endpoint_id, timezone.now()))


class SeriesQuery(Schema):
    window: Literal["15m", "1h", "6h", "24h", "7d"] = "1h"
    points: int = 120


@router.get(
    "/endpoints/{int:endpoint_id}/health",
    response={**COMMON_ERRORS, 200: HealthSeries, 404: Error, 422: Error},
    summary="Health over a window, in time buckets",
)
def endpoint_health(request, endpoint_id: int, query: Query[SeriesQuery]):
    if not 1 <= query.points <= 500:
        raise ApiError(422, "invalid", "points must be from 1 to 500.", field="points")
    endpoint = get_object_or_404(Endpoint.objects.only("id", "name"), pk=endpoint_id)
    until = timezone.now()
    since = until - WINDOWS[query.window]
    buckets = selectors.health_series(endpoint, since=since, until=until, points=query.points)
    return {
        "endpoint": {"id": endpoint.pk, "name": endpoint.name},
        "since": since,
        "until": until,
        "bucket_seconds": selectors.bucket_seconds(until - since, query.points),
        "buckets": [{"start": b.start, "values": b.values} for b in buckets],
    }


@router.post(
    "/endpoints/{int:endpoint_id}/purge-queue",
    response={**COMMON_ERRORS, **BODY_ERRORS, 200: PurgeOut, 403: Error, 404: Error, 422: Error, 502: Error},
    summary="Remove every queued job at RunPod (operators)",
)
def endpoint_purge(request, endpoint_id: int, payload: PurgeIn):
    operator_required(request, "purge")
    endpoint = get_object_or_404(Endpoint, pk=endpoint_id)
    # The page asks for the name typed out; a script must say which queue it means just as plainly.
    if payload.confirm.strip() != endpoint.name:
        raise ApiError(422, "invalid", f"Set confirm to {endpoint.name} exactly to purge its queue.", field="confirm")
    try:
        removed = services.endpoint_purge_queue(endpoint=endpoint, user=request.user, remote_addr=client_ip(request))
    except services.ActionError as exc:
        raise from_action_error(exc) from exc
    return {"removed": removed}
