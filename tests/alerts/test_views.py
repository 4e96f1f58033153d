"""The Alerts and Failures pages, acknowledge and silence (Operators, audited), the banner and /healthz."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, Silence
from alerts.services import poll_heartbeat
from alerts.services.feed import transitions_read
from jobs.models import AuditEntry, Job
from tests.alerts.conftest import finished
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(endpoint):
    return Alert.objects.create(
        kind="stuck_queue",
        endpoint=endpoint,
        key=f"stuck_queue:{endpoint.pk}",
        summary="demo: 3 job(s) queued. Every worker is unhealthy <b>now</b>.",
        evidence={"cause": "unhealthy", "links": ["/endpoints/1/"]},
    )


def test_alerts_page_lists_firing_alerts_escaped(as_viewer, alert):
    """The sentence is on the page, escaped; viewers see no buttons."""
    body = as_viewer.get("/alerts/").content.decode()
    assert "Every worker is unhealthy &lt;b&gt;now&lt;/b&gt;" in body
    assert "Firing now (1)" in body and "Acknowledge" not in body


def test_operator_acknowledges_and_it_is_audited(as_operator, alert):
    """Acknowledge records who and when, and an audit entry."""
    response = as_operator.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "on it"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == "operator" and alert.acknowledge_note == "on it"
    assert AuditEntry.objects.filter(action="alert_ack", username="operator").exists()


def test_operator_silences_with_a_reason_and_it_is_audited(as_operator, alert):
    """A silence for 30 minutes keeps the alert listed as silenced."""
    as_operator.post(f"/alerts/{alert.pk}/silence/", {"minutes": "30", "reason": "deploying"})
    silence = Silence.objects.get()
    assert silence.key == alert.key and silence.reason == "deploying"
    assert timedelta(minutes=29) < silence.until - timezone.now() <= timedelta(minutes=30)
    assert AuditEntry.objects.filter(action="alert_silence").exists()
    assert "silenced" in as_operator.get("/alerts/").content.decode()


def test_a_silence_without_reason_keeps_what_was_typed(as_operator, alert):
    """Bad input: 400 with the form again, the typed minutes kept, nothing stored."""
    response = as_operator.post(f"/alerts/{alert.pk}/silence/", {"minutes": "45", "reason": ""})
    assert response.status_code == 400
    assert 'value="45"' in response.content.decode() and "Reason" in response.content.decode()
    assert not Silence.objects.exists()


def test_viewers_cannot_act_and_the_refusal_is_audited(as_viewer, alert):
    """403 for a viewer's POST, audited as denied."""
    assert as_viewer.post(f"/alerts/{alert.pk}/silence/", {"minutes": "5", "reason": "x"}).status_code == 403
    assert AuditEntry.objects.filter(action="alert_silence", outcome="denied").exists()
    assert not Silence.objects.exists()


def test_history_filters_by_rule_and_state(as_viewer, alert, endpoint):
    """The filter keeps only the resolved failure-rate alert."""
    Alert.objects.create(kind="failure_rate", endpoint=endpoint, key="x", summary="many failed", state="resolved")
    body = as_viewer.get("/alerts/?kind=failure_rate&state=resolved").content.decode()
    history = body.split('id="history"')[1]
    assert "many failed" in history and "Every worker" not in history


def test_badge_on_every_page_counts_firing_alerts(as_viewer, alert):
    """The nav shows "1 alert" while one fires."""
    assert "1 alert<" in as_viewer.get("/audit/").content.decode()


def test_failures_page_groups_masked_errors(as_viewer, endpoint):
    """Two messages differing in a number are one group of two; the jobs list filters by it."""
    poll_heartbeat()
    finished(endpoint, status="FAILED", error_raw="worker 17 crashed")
    finished(endpoint, status="FAILED", error_raw="worker 23 crashed")
    finished(endpoint, status="FAILED", error_raw="something else")
    transitions_read()
    body = as_viewer.get("/alerts/failures/?window=1h").content.decode()
    assert "FAILED: worker &lt;n&gt; crashed" in body
    rows = body.split("<tbody>")[1]
    assert rows.index("worker &lt;n&gt; crashed") < rows.index("something else")


def test_healthz_needs_no_login_and_answers_503_when_polling_stalled(db):
    """200 while rounds finish; 503 with the reason once jobs wait and no round finished for a minute."""
    client = Client()
    endpoint = make_endpoint()
    assert client.get("/healthz").status_code == 200
    make_job(endpoint, next_poll_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/healthz")
    assert response.json() == {
        "status": "stalled",
        "reason": "No poll round has finished yet while jobs wait to be polled.",
    }
    assert response.status_code == 503
    poll_heartbeat()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert Job.objects.count() == 1 and "job" not in client.get("/healthz").content.decode()


def test_stall_banner_shows_on_pages(as_viewer, endpoint):
    """Every page carries the banner while polling is stalled."""
    make_job(endpoint, next_poll_at=timezone.now() - timedelta(seconds=90))
    assert "Polling has stalled" in as_viewer.get("/jobs/").content.decode()
    poll_heartbeat()
    assert "Polling has stalled" not in as_viewer.get("/jobs/").content.decode()


def test_jobs_list_filters_by_error_group(as_viewer, endpoint):
    """?group= keeps only the failed jobs of that group."""
    from alerts.models import ErrorGroup

    poll_heartbeat()
    mine = finished(endpoint, status="FAILED", error_raw="worker 17 crashed")
    other = finished(endpoint, status="FAILED", error_raw="disk full")
    transitions_read()
    group = ErrorGroup.objects.get(message="worker <n> crashed")
    body = as_viewer.get(f"/jobs/?group={group.pk}").content.decode()
    assert mine.runpod_id in body and other.runpod_id not in body
