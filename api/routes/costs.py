"""Estimated costs over a window (the Cost page's figures), and an endpoint's price, which admins set."""

from typing import Literal

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema

from jobs import selectors, services
from jobs.costs import ESTIMATE_NOTE, price_text
from jobs.models import Endpoint

from ..auth import admin_required, client_ip
from ..errors import ApiError
from ..schemas import BODY_ERRORS, COMMON_ERRORS, CostSummaryOut, Error, PriceIn, PriceOut

router = Router(tags=["costs"])


class CostQuery(Schema):
    window: Literal["7d", "30d", "90d"] = "30d"


def _line(line) -> dict:
    return {
        "cost_usd": price_text(line.amount) if line.priced else None,
        "so_far_usd": price_text(line.so_far),
        "jobs": line.jobs,
        "running": line.running,
        "execution_ms": line.execution_ms,
        "unpriced_jobs": line.unpriced_jobs,
        "untimed_jobs": line.untimed_jobs,
    }


@router.get(
    "/costs",
    response={**COMMON_ERRORS, 200: CostSummaryOut},
    summary="Estimated cost per endpoint, user and day over the last 7, 30 or 90 local days",
    description=ESTIMATE_NOTE,
)
def cost_summary(request, query: Query[CostQuery]):
    now = timezone.now()
    since, until = selectors.cost_window(query.window, now)
    summary = selectors.cost_summary(since=since, until=until, now=now)
    return {
        "since": since,
        "until": until,
        "time_zone": str(timezone.get_current_timezone()),
        "note": ESTIMATE_NOTE,
        "total": _line(summary.total),
        "endpoints": [
            {
                **_line(line),
                "endpoint": {"id": line.key, "name": line.label},
                "price_per_second_usd": price_text(line.price),
            }
            for line in summary.endpoints
        ],
        "users": [{**_line(line), "username": line.label or None} for line in summary.users],
        "days": [{**_line(line), "day": line.key.isoformat()} for line in summary.days],
    }


@router.put(
    "/endpoints/{int:endpoint_id}/price",
    response={**COMMON_ERRORS, **BODY_ERRORS, 200: PriceOut, 403: Error, 404: Error},
    summary="Set or clear an endpoint's price per second (admins)",
)
def endpoint_price(request, endpoint_id: int, payload: PriceIn):
    endpoint = get_object_or_404(Endpoint, pk=endpoint_id)
    admin_required(request, "endpoint_change", endpoint)
    try:
        price = services.price_parse(payload.price_per_second_usd)
    except services.InputError as exc:
        raise ApiError(422, "invalid", str(exc), field="price_per_second_usd") from exc
    changed = services.endpoint_price_set(
        endpoint=endpoint, price=price, user=request.user, remote_addr=client_ip(request)
    )
    return {
        "endpoint": {"id": endpoint.pk, "name": endpoint.name},
        "price_per_second_usd": price_text(endpoint.price_per_second),
        "changed": changed,
    }
