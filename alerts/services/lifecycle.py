"""Findings into alerts: fire once, stay firing while the condition holds, resolve once after a hold-down.

Each firing and resolution keeps its evidence, and queues one delivery per enabled channel unless the alert's
rule is silenced. Deliveries are sent by their own task after commit, so a slow channel never holds this up.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, Silence


def silenced_keys(now) -> set[str]:
    return set(Silence.objects.filter(until__gt=now).values_list("key", flat=True))


def alerts_sync(findings, *, now=None) -> dict:
    """Apply this tick's findings; returns the ids of deliveries queued and the counts of what changed."""
    now = now or timezone.now()
    hold_down = timedelta(seconds=settings.ALERT_HOLD_DOWN_SECONDS)
    firing = {a.key: a for a in Alert.objects.filter(state=Alert.State.FIRING)}
    silenced = silenced_keys(now)
    result = {"fired": 0, "resolved": 0, "deliveries": []}
    still = []
    for finding in findings:
        alert = firing.pop(finding.key, None)
        if alert is None:
            alert = alert_fire(finding, now=now)
            if alert is not None:
                result["fired"] += 1
                if finding.key not in silenced:
                    result["deliveries"] += deliveries_queue(alert, Delivery.Event.FIRED)
        else:
            alert.summary, alert.latest, alert.last_seen_at, alert.clear_since = (
                finding.summary,
                finding.evidence,
                now,
                None,
            )
            still.append(alert)
    # One statement for every alert still firing, however many endpoints.
    Alert.objects.bulk_update(still, ["summary", "latest", "last_seen_at", "clear_since"], batch_size=500)
    for alert in firing.values():
        if alert.clear_since is None:
            Alert.objects.filter(pk=alert.pk).update(clear_since=now)
        elif now - alert.clear_since >= hold_down and alert_resolve(alert, now=now):
            result["resolved"] += 1
            if alert.key not in silenced:
                result["deliveries"] += deliveries_queue(alert, Delivery.Event.RESOLVED)
    return result


def alert_fire(finding, *, now) -> Alert | None:
    try:
        with transaction.atomic():
            return Alert.objects.create(
                kind=finding.kind,
                endpoint_id=finding.endpoint_id,
                key=finding.key,
                summary=finding.summary,
                evidence=finding.evidence,
                latest=finding.evidence,
                fired_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        return None  # another tick fired it a moment ago


def alert_resolve(alert, *, now) -> bool:
    """Conditional on still firing, so two ticks cannot both resolve it."""
    resolution = {**alert.latest, "cleared_at": alert.clear_since.isoformat() if alert.clear_since else None}
    done = Alert.objects.filter(pk=alert.pk, state=Alert.State.FIRING).update(
        state=Alert.State.RESOLVED, resolved_at=now, resolution=resolution
    )
    if done:
        alert.state, alert.resolved_at, alert.resolution = Alert.State.RESOLVED, now, resolution
    return bool(done)


def deliveries_queue(alert, event) -> list[int]:
    ids = []
    for channel in Channel.objects.filter(enabled=True):
        delivery, created = Delivery.objects.get_or_create(alert=alert, channel=channel, event=event)
        if created:
            ids.append(delivery.pk)
    return ids
