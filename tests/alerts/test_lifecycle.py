"""Alerts fire once, hold through a flap, resolve once, and keep their evidence; silenced ones send nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, Silence
from alerts.services import Finding, alerts_sync

pytestmark = pytest.mark.django_db

T0 = timezone.now()


def finding(summary="q stuck", **evidence):
    return Finding("stuck_queue", "stuck_queue:1", summary, None, {"cause": "unhealthy", **evidence})


@pytest.fixture
def channel(db):
    return Channel.objects.create(name="ops", kind=Channel.Kind.WEBHOOK, url="http://127.0.0.1:9/hook")


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_fires_once_and_resolves_once_after_the_hold_down(channel, settings):
    """Five ticks with the condition make one alert; it resolves 30 s after clearing, and only once."""
    settings.ALERT_HOLD_DOWN_SECONDS = 30
    fired = [alerts_sync([finding(queued=n)], now=at(n * 5))["fired"] for n in range(5)]
    assert fired == [1, 0, 0, 0, 0]
    assert alerts_sync([], now=at(30))["resolved"] == 0  # clear starts the hold-down
    assert alerts_sync([], now=at(50))["resolved"] == 0
    assert alerts_sync([], now=at(61))["resolved"] == 1
    assert alerts_sync([], now=at(70))["resolved"] == 0
    [alert] = Alert.objects.all()
    assert alert.state == "resolved" and alert.evidence["queued"] == 0 and alert.resolution["queued"] == 4
    assert sorted(Delivery.objects.values_list("event", flat=True)) == ["fired", "resolved"]


def test_a_flap_inside_the_hold_down_keeps_the_same_alert(channel, settings):
    """Clear for 10 s, then back: still the one alert, no second message."""
    settings.ALERT_HOLD_DOWN_SECONDS = 30
    alerts_sync([finding()], now=at(0))
    alerts_sync([], now=at(5))
    alerts_sync([], now=at(15))
    alerts_sync([finding()], now=at(20))
    alerts_sync([], now=at(25))
    assert alerts_sync([], now=at(40))["resolved"] == 0
    assert Alert.objects.count() == 1 and Delivery.objects.count() == 1


def test_a_silenced_rule_sends_nothing_but_is_still_listed(channel):
    """While silenced the alert fires and shows, and no delivery is queued."""
    Silence.objects.create(
        key="stuck_queue:1", kind="stuck_queue", until=timezone.now() + timedelta(hours=1), reason="deploy"
    )
    result = alerts_sync([finding()], now=timezone.now())
    assert result["fired"] == 1 and result["deliveries"] == []
    assert Alert.objects.filter(state="firing").count() == 1


def test_a_channel_added_later_gets_only_new_events(db):
    """Deliveries are made when an alert fires or resolves, for the channels enabled then."""
    alerts_sync([finding()], now=at(0))
    Channel.objects.create(name="late", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    assert Delivery.objects.count() == 0


def test_every_alert_still_firing_keeps_its_own_latest_sentence_and_evidence(db):
    """Three alerts firing: one statement writes each its own summary (quotes and all) and evidence, seen now."""
    keys = [f"stuck_queue:{n}" for n in range(3)]
    alerts_sync([Finding("stuck_queue", key, "first", None, {"n": 0}) for key in keys], now=at(0))
    later = [
        Finding("stuck_queue", key, f"it's {n}: «{key}»", None, {"n": n, "nested": {"key": key}})
        for n, key in enumerate(keys)
    ]
    alerts_sync(later, now=at(5))
    for n, key in enumerate(keys):
        alert = Alert.objects.get(key=key)
        assert alert.summary == f"it's {n}: «{key}»" and alert.latest == {"n": n, "nested": {"key": key}}
        assert alert.evidence == {"n": 0} and alert.last_seen_at == at(5) and alert.state == "firing"
