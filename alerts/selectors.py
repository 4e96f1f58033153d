"""Reads for the alerts pages, badges and banner. Every read is bounded (LIMIT, or an indexed window)."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Exists, Max, Min, OuterRef
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, ErrorGroup, JobFailure, RuleKind, Silence
from jobs.models import Endpoint, Job

HISTORY_LIMIT = 100
FAILURE_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def _with_silence(qs, now):
    active = Silence.objects.filter(key=OuterRef("key"), until__gt=now)
    return qs.annotate(silenced=Exists(active))


def alerts_firing(now=None, *, endpoint_id=None) -> list[Alert]:
    now = now or timezone.now()
    qs = Alert.objects.filter(state=Alert.State.FIRING).select_related("endpoint")
    if endpoint_id is not None:
        qs = qs.filter(endpoint_id=endpoint_id)
    return list(_with_silence(qs, now).order_by("-fired_at", "-id")[:HISTORY_LIMIT])


@dataclass(frozen=True)
class AlertFilters:
    kind: str = ""
    endpoint_id: int | None = None
    state: str = ""


def alerts_history(filters: AlertFilters, now=None) -> list[Alert]:
    now = now or timezone.now()
    qs = Alert.objects.select_related("endpoint")
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.endpoint_id is not None:
        qs = qs.filter(endpoint_id=filters.endpoint_id)
    if filters.state:
        qs = qs.filter(state=filters.state)
    return list(_with_silence(qs, now).order_by("-fired_at", "-id")[:HISTORY_LIMIT])


def alert_detail(pk) -> Alert:
    return Alert.objects.select_related("endpoint").get(pk=pk)


def alert_deliveries(alert) -> list[Delivery]:
    return list(alert.deliveries.select_related("channel").prefetch_related("attempt_log").order_by("created_at", "id"))


def silences_active(now=None) -> list[Silence]:
    now = now or timezone.now()
    return list(Silence.objects.filter(until__gt=now).select_related("endpoint").order_by("until")[:100])


def channels_status() -> list[Channel]:
    return list(Channel.objects.order_by("name"))


def firing_by_endpoint() -> dict[int | None, list[Alert]]:
    """Firing alerts grouped by endpoint id (None: not about one endpoint), for the badges."""
    grouped: dict[int | None, list[Alert]] = {}
    for alert in Alert.objects.filter(state=Alert.State.FIRING).order_by("-fired_at")[:HISTORY_LIMIT]:
        grouped.setdefault(alert.endpoint_id, []).append(alert)
    return grouped


def endpoint_diagnosis(endpoint_id) -> Alert | None:
    """The firing stuck-queue alert of an endpoint, whose summary is the diagnosis sentence."""
    return Alert.objects.filter(state=Alert.State.FIRING, kind=RuleKind.STUCK_QUEUE, endpoint_id=endpoint_id).first()


@dataclass
class GroupRow:
    group: ErrorGroup
    count: int
    first: object
    last: object
    endpoints: list
    samples: list


def error_groups(window: str = "24h", *, endpoint_id=None, now=None, limit=50) -> list[GroupRow]:
    """Error groups seen in the window, most frequent first, with their endpoints and a few sample jobs."""
    now = now or timezone.now()
    qs = JobFailure.objects.filter(at__gte=now - FAILURE_WINDOWS.get(window, FAILURE_WINDOWS["24h"]))
    if endpoint_id is not None:
        qs = qs.filter(endpoint_id=endpoint_id)
    rows = list(
        qs.values("group_id").annotate(n=Count("job_id"), first=Min("at"), last=Max("at")).order_by("-n")[:limit]
    )
    groups = ErrorGroup.objects.in_bulk([r["group_id"] for r in rows])
    names = dict(Endpoint.objects.values_list("pk", "name"))
    result = []
    for row in rows:
        of_group = qs.filter(group_id=row["group_id"])
        endpoint_ids = of_group.values_list("endpoint_id", flat=True).distinct()[:10]
        samples = list(
            Job.objects.filter(pk__in=of_group.order_by("-at").values("job_id")[:3]).values("pk", "runpod_id", "status")
        )
        result.append(
            GroupRow(
                groups[row["group_id"]],
                row["n"],
                row["first"],
                row["last"],
                sorted(names[e] for e in endpoint_ids),
                samples,
            )
        )
    return result


def top_error_group(endpoint_id, window: str = "1h", now=None) -> GroupRow | None:
    rows = error_groups(window, endpoint_id=endpoint_id, now=now, limit=1)
    return rows[0] if rows else None


def error_group(pk) -> ErrorGroup | None:
    return ErrorGroup.objects.filter(pk=pk).first()
