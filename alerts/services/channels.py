"""Sending an alert's firing or resolution to a channel: Slack, a signed JSON webhook, or email.

One attempt per call; the task retries with backoff. Every attempt is logged, the channel keeps its last success
and failure so a broken one shows on the alerts page, and no URL or secret ever appears in a log or an error.
"""

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from alerts.models import Channel, Delivery, DeliveryAttempt

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Dashboard-Signature"
TIMESTAMP_HEADER = "X-Dashboard-Timestamp"
LEASE = timedelta(seconds=60)


class SendError(Exception):
    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retry_in: float | None = None  # seconds until the next attempt; None: done (sent, gave up or not ours)


def alert_url(alert) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("alerts:detail", args=[alert.pk])


def alert_payload(alert, event) -> dict:
    """The JSON webhook's body: everything a receiver needs, with absolute links."""
    base = settings.SITE_URL.rstrip("/")
    evidence = alert.resolution if event == Delivery.Event.RESOLVED and alert.resolution else alert.evidence
    return {
        "event": event,
        "alert": {
            "id": alert.pk,
            "rule": alert.kind,
            "rule_name": alert.get_kind_display(),
            "endpoint": alert.endpoint.name if alert.endpoint else None,
            "summary": alert.summary,
            "state": alert.state,
            "fired_at": alert.fired_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "url": alert_url(alert),
            "evidence": {**evidence, "links": [base + link for link in evidence.get("links", [])]},
        },
    }


def headline(alert, event) -> str:
    verb = "Resolved" if event == Delivery.Event.RESOLVED else "Firing"
    return f"[{verb}] {alert.get_kind_display()}: {alert.summary}"


def slack_message(alert, event) -> dict:
    """Slack's incoming-webhook format: a fallback text and blocks, with a link back to the alert's page."""
    icon = ":white_check_mark:" if event == Delivery.Event.RESOLVED else ":rotating_light:"
    text = headline(alert, event)
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{_slack_escape(text)}*"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{alert_url(alert)}|Open the alert> · fired {alert.fired_at:%H:%M:%S} UTC",
                    }
                ],
            },
        ],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: receivers recompute it and refuse old timestamps."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _post(url, body: bytes, headers) -> int:
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.ALERT_CHANNEL_TIMEOUT_SECONDS, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        # httpx messages can carry the URL, which for Slack is the secret: only the kind of failure is kept.
        raise SendError(f"{type(exc).__name__}: no answer from the receiver") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"the receiver answered {response.status_code}", response.status_code)
    return response.status_code


def channel_send(channel, alert, event) -> int | None:
    """One attempt; returns the HTTP status (None for email) or raises SendError."""
    if channel.kind == Channel.Kind.SLACK:
        body = json.dumps(slack_message(alert, event)).encode()
        return _post(channel.url, body, {"Content-Type": "application/json"})
    if channel.kind == Channel.Kind.WEBHOOK:
        body = json.dumps(alert_payload(alert, event)).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if channel.secret:
            headers[SIGNATURE_HEADER] = webhook_signature(channel.secret, timestamp, body)
        return _post(channel.url, body, headers)
    recipients = [a.strip() for a in channel.recipients.split(",") if a.strip()]
    if not recipients:
        raise SendError("no recipients")
    try:
        send_mail(headline(alert, event)[:200], _email_body(alert, event), None, recipients, fail_silently=False)
    except Exception as exc:  # smtplib and socket errors vary; any is a failed attempt
        raise SendError(f"email failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    return None


def _email_body(alert, event) -> str:
    payload = alert_payload(alert, event)["alert"]
    lines = [headline(alert, event), "", f"Open the alert: {payload['url']}", ""]
    lines += [f"{name}: {value}" for name, value in payload["evidence"].items() if name != "links"]
    lines += ["", *payload["evidence"].get("links", [])]
    return "\n".join(lines)


def backoff_seconds(attempts: int) -> float:
    return min(settings.ALERT_RETRY_MAX_SECONDS, settings.ALERT_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


def delivery_send(delivery_id, *, now=None) -> SendResult:
    """1. Claim the pending delivery. 2. One attempt, logged. 3. Sent, or the next attempt after a backoff."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if (
        not Delivery.objects.filter(pk=delivery_id, state=Delivery.State.PENDING)
        .filter(free)
        .update(lease_until=now + LEASE)
    ):
        return SendResult(ok=False)
    delivery = Delivery.objects.select_related("channel", "alert", "alert__endpoint").get(pk=delivery_id)
    started = time.monotonic()
    try:
        status_code, error = channel_send(delivery.channel, delivery.alert, delivery.event), ""
    except SendError as exc:
        status_code, error = exc.status_code, str(exc)
    duration = round((time.monotonic() - started) * 1000)
    DeliveryAttempt.objects.create(
        delivery=delivery, at=now, ok=not error, status_code=status_code, error=error, duration_ms=duration
    )
    return _delivery_record(delivery, error, now)


def _delivery_record(delivery, error, now) -> SendResult:
    attempts = delivery.attempts + 1
    channel = Channel.objects.filter(pk=delivery.channel_id)
    if not error:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.SENT, sent_at=timezone.now(), attempts=attempts, lease_until=None, last_error=""
        )
        channel.update(last_ok_at=now, consecutive_failures=0)
        return SendResult(ok=True)
    channel.update(last_error=error, last_error_at=now, consecutive_failures=F("consecutive_failures") + 1)
    logger.warning(
        "alert delivery %s to channel %s failed (attempt %s): %s", delivery.pk, delivery.channel_id, attempts, error
    )
    if attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.FAILED, attempts=attempts, lease_until=None, last_error=error
        )
        return SendResult(ok=False)
    wait = backoff_seconds(attempts)
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts, lease_until=None, last_error=error, next_attempt_at=now + timedelta(seconds=wait)
    )
    return SendResult(ok=False, retry_in=wait)


def deliveries_overdue(now=None, *, late=timedelta(seconds=60)) -> list[int]:
    """Pending deliveries whose retry is long overdue (their task was lost): the tick sends them again."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lt=now - late)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)[:500]
    )
