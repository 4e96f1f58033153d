"""Channels against real local servers: Slack's format, a webhook signed with HMAC, email over SMTP, retries."""

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, DeliveryAttempt
from alerts.services import alerts_sync, delivery_send
from alerts.services.rules import Finding
from tests.alerts.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.django_db

SUMMARY = "gpu: 4 job(s) queued, the oldest for 300 s. Every worker is unhealthy (2 unhealthy, none running)."


@pytest.fixture
def fire(endpoint):
    def fire():
        finding = Finding(
            "stuck_queue", f"stuck_queue:{endpoint.pk}", SUMMARY, endpoint.pk, {"cause": "unhealthy", "links": ["/x/"]}
        )
        return alerts_sync([finding], now=timezone.now())["deliveries"]

    return fire


def test_slack_gets_its_message_format_with_a_link_back(fire, settings):
    """Slack's incoming-webhook body: text plus blocks, linking to the alert's page on SITE_URL."""
    settings.SITE_URL = "https://dash.example.com"
    with HttpReceiver() as slack:
        Channel.objects.create(name="slack", kind=Channel.Kind.SLACK, url=f"{slack.url}/services/T0/B0/secret")
        [delivery_id] = fire()
        assert delivery_send(delivery_id).ok
        message = slack.json()
    alert = Alert.objects.get()
    assert slack.requests[0]["path"] == "/services/T0/B0/secret"
    assert message["text"] == f"[Firing] Stuck queue: {SUMMARY}"
    assert (
        f"<https://dash.example.com/alerts/{alert.pk}/|Open the alert>" in message["blocks"][1]["elements"][0]["text"]
    )


def test_webhook_is_signed_with_hmac_over_timestamp_and_body(fire):
    """The receiver recomputes the signature with the shared secret; the payload carries evidence and links."""
    with HttpReceiver() as hook:
        Channel.objects.create(name="hook", kind=Channel.Kind.WEBHOOK, url=f"{hook.url}/in", secret="s3cret")
        [delivery_id] = fire()
        delivery_send(delivery_id)
        request = hook.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    signed = headers["x-dashboard-timestamp"].encode() + b"." + request["body"]
    expected = "sha256=" + hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-dashboard-signature"], expected)
    payload = hook.json()
    assert payload["event"] == "fired" and payload["alert"]["evidence"]["cause"] == "unhealthy"
    assert payload["alert"]["evidence"]["links"][0].endswith("/x/")


def test_email_goes_through_a_real_smtp_server(fire, settings):
    """Django's SMTP backend, configured from settings, delivers to the recipients."""
    with SmtpReceiver() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        Channel.objects.create(name="mail", kind=Channel.Kind.EMAIL, recipients="ops@example.com, oncall@example.com")
        [delivery_id] = fire()
        assert delivery_send(delivery_id).ok
    [message] = smtp.messages
    assert message["to"] == ["ops@example.com", "oncall@example.com"]
    assert "Subject: [Firing] Stuck queue: gpu: 4 job(s) queued" in message["data"]
    assert "Open the alert: http" in message["data"]


def test_a_receiver_answering_500_then_200_gets_the_message_exactly_once(fire, settings):
    """The first attempt fails and is logged with a backoff; the retry delivers; a third call sends nothing."""
    settings.ALERT_RETRY_BASE_SECONDS = 5
    with HttpReceiver() as hook:
        hook.fail_next = 1
        channel = Channel.objects.create(name="hook", kind=Channel.Kind.WEBHOOK, url=hook.url, secret="k")
        [delivery_id] = fire()
        first = delivery_send(delivery_id)
        assert not first.ok and first.retry_in == 5
        channel.refresh_from_db()
        assert channel.failing and "500" in channel.last_error
        assert delivery_send(delivery_id, now=timezone.now() + timedelta(seconds=6)).ok
        assert not delivery_send(delivery_id).ok  # already sent: nothing goes out again
        assert len(hook.requests) == 1
    assert [a.ok for a in DeliveryAttempt.objects.order_by("at", "id")] == [False, True]
    channel.refresh_from_db()
    assert not channel.failing and Delivery.objects.get().state == "sent"


def test_a_dead_channel_is_given_up_after_the_attempts_and_never_leaks_its_url(fire, settings):
    """Nothing listens: each attempt is logged without the secret URL, and the delivery is given up at the limit."""
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 2
    settings.ALERT_CHANNEL_TIMEOUT_SECONDS = 1
    Channel.objects.create(name="dead", kind=Channel.Kind.SLACK, url="http://127.0.0.1:9/services/SECRET")
    [delivery_id] = fire()
    assert delivery_send(delivery_id).retry_in is not None
    assert delivery_send(delivery_id, now=timezone.now() + timedelta(hours=1)).retry_in is None
    delivery = Delivery.objects.get()
    assert delivery.state == "failed" and delivery.attempts == 2
    errors = " ".join(DeliveryAttempt.objects.values_list("error", flat=True)) + Channel.objects.get().last_error
    assert "SECRET" not in errors and "no answer" in errors


def test_channel_secrets_are_encrypted_at_rest(db):
    """The URL and the HMAC key are stored as Fernet tokens."""
    from django.db import connection

    Channel.objects.create(name="c", kind=Channel.Kind.WEBHOOK, url="http://h/secret-path", secret="hmac-key")
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM alerts_channel")
        url, secret = cursor.fetchone()
    assert "secret-path" not in url and "hmac-key" not in secret
