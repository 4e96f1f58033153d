"""What operators do to alerts: acknowledge one, silence its rule for a while. Both are audited."""

from datetime import timedelta

from django.utils import timezone

from alerts.models import Alert, Silence
from jobs.services import InputError, audit_record

# The longest silence: a week, so a forgotten one cannot hide a rule for good.
SILENCE_MAX = timedelta(days=7)


def alert_acknowledge(*, alert, user, note="", remote_addr=None) -> Alert:
    if alert.acknowledged_at is not None:
        raise InputError(f"Already acknowledged by {alert.acknowledged_by or 'someone'}.")
    now = timezone.now()
    note = (note or "").strip()[:2000]
    Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user.get_username(), acknowledge_note=note
    )
    alert.refresh_from_db()
    audit_record(
        action="alert_ack",
        user=user,
        endpoint=alert.endpoint,
        message=f"Acknowledged alert {alert.pk} ({alert.get_kind_display()}){': ' + note if note else ''}",
        detail={"alert": alert.pk},
        remote_addr=remote_addr,
    )
    return alert


def alert_silence(*, alert, user, minutes, reason, remote_addr=None) -> Silence:
    """Silence the alert's rule on its endpoint: no notifications until it ends; the alert stays listed."""
    reason = (reason or "").strip()
    if not reason:
        raise InputError("Say why it is silenced: the reason is kept in the audit log.")
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        raise InputError("The duration must be a whole number of minutes.") from None
    if not 1 <= minutes <= SILENCE_MAX.total_seconds() / 60:
        raise InputError(f"Silence for 1 to {SILENCE_MAX.total_seconds() / 60:.0f} minutes.")
    now = timezone.now()
    silence = Silence.objects.create(
        key=alert.key,
        kind=alert.kind,
        endpoint=alert.endpoint,
        until=now + timedelta(minutes=minutes),
        reason=reason[:2000],
        created_by=user.get_username(),
        created_at=now,
    )
    audit_record(
        action="alert_silence",
        user=user,
        endpoint=alert.endpoint,
        message=f"Silenced {alert.get_kind_display()} for {minutes} min: {reason[:500]}",
        detail={"alert": alert.pk, "key": alert.key, "until": silence.until.isoformat()},
        remote_addr=remote_addr,
    )
    return silence


def silence_end(*, silence, user, remote_addr=None) -> None:
    now = timezone.now()
    Silence.objects.filter(pk=silence.pk, until__gt=now).update(until=now)
    audit_record(
        action="alert_unsilence",
        user=user,
        endpoint=silence.endpoint,
        message=f"Ended the silence of {silence.get_kind_display()}",
        detail={"key": silence.key},
        remote_addr=remote_addr,
    )
