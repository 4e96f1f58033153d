"""Findings into alerts: fire once, stay firing while the condition holds, resolve once after a hold-down.

Each firing and resolution keeps its evidence, and queues one delivery per enabled channel unless the alert's
rule is silenced. Deliveries are sent by their own task after commit, so a slow channel never holds this up.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, Silence


def silenced_keys(now) -> set[str]:
    return set(Silence.objects.filter(until__gt=now).values_list("key", flat=True))


def alerts_sync(findings, *, now=None) -> dict:
    """Apply this tick's findings; returns the ids of deliveries queued and the counts of what changed."""
    now = now or timezone.now()
    hold_down = timedelta(seconds=settings.ALERT_HOLD_DOWN_SECONDS)
    firing = {a.key: a for a in Alert.objects.filter(state=Alert.State.FIRING).defer("evidence", "resolution")}
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
    alerts_still_firing(still, now=now)
    for alert in firing.values():
        if alert.clear_since is None:
            Alert.objects.filter(pk=alert.pk).update(clear_since=now)
        elif now - alert.clear_since >= hold_down and alert_resolve(alert, now=now):
            result["resolved"] += 1
            if alert.key not in silenced:
                result["deliveries"] += deliveries_queue(alert, Delivery.Event.RESOLVED)
    return result


def alerts_still_firing(alerts, *, now, batch=500) -> None:
    """Write each alert's current sentence and evidence, seen now and not clearing, in one statement per `batch`.

    The same UPDATE ... CASE as QuerySet.bulk_update, written out: building Django's Case/When expressions for
    every alert cost more CPU than the rest of the tick's rules together (bench/alerts_eval.py).
    """
    table = connection.ops.quote_name(Alert._meta.db_table)
    summary_field, latest_field = Alert._meta.get_field("summary"), Alert._meta.get_field("latest")
    seen = Alert._meta.get_field("last_seen_at").get_db_prep_save(now, connection)
    for start in range(0, len(alerts), batch):
        chunk = alerts[start : start + batch]
        summaries, latest, params = [], [], []
        for alert in chunk:
            summaries.append((alert.pk, summary_field.get_db_prep_save(alert.summary, connection)))
            latest.append((alert.pk, latest_field.get_db_prep_save(alert.latest, connection)))
        for pairs in (summaries, latest):
            params += [value for pair in pairs for value in pair]
        params.append(seen)
        params += [alert.pk for alert in chunk]
        cases = " ".join(["WHEN %s THEN %s"] * len(chunk))
        # Only placeholders and the model's own table name go into the text; every value is a parameter.
        ids = ", ".join(["%s"] * len(chunk))
        sql = f"UPDATE {table} SET summary = CASE id {cases} END, latest = CASE id {cases} END, last_seen_at = %s, clear_since = NULL WHERE id IN ({ids})"  # noqa: E501, S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


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
