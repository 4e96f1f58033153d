"""/metrics: OpenMetrics read from the database, behind a bearer token or an address allowlist."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from api import metrics
from jobs.models import HealthSnapshot, StatusTransition
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def samples(text) -> dict:
    """{(name, frozenset(labels)): value} of every sample in an OpenMetrics text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_IPS = []
    return {"Authorization": "Bearer scrape-secret"}


def test_metrics_refuse_without_the_token_or_an_allowed_address(client, settings, metrics_token):
    """No token, a wrong token, or an address outside the list gets 401; a logged-in session does not help."""
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers=metrics_token).status_code == 401


def test_an_allowed_network_scrapes_without_a_token(client, settings):
    """METRICS_ALLOWED_IPS takes addresses and networks."""
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "127.0.0.1"]
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")
    assert client.get("/metrics")["Content-Type"].startswith("text/plain")


def test_metrics_show_queue_workers_and_finished_counts(client, metrics_token):
    """Queue depth and workers come from the newest snapshot; finished counts from settled transitions."""
    endpoint = make_endpoint(name="sdxl")
    now = timezone.now()
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now, jobs_in_queue=7, workers_running=2)
    old = now - timedelta(minutes=5)
    for status, delay in (("COMPLETED", 50), ("COMPLETED", 4000), ("FAILED", None)):
        job = make_job(endpoint=endpoint, status=status, delay_ms=delay, execution_ms=1500, finished_at=old)
        StatusTransition.objects.create(job=job, from_status="IN_PROGRESS", to_status=status, at=old, source="poll")
    found = samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())
    ep = ("endpoint", "sdxl")
    assert found[("runpod_queue_depth", frozenset({ep}))] == 7
    assert found[("runpod_workers", frozenset({ep, ("state", "running")}))] == 2
    assert found[("runpod_jobs_finished_total", frozenset({ep, ("status", "COMPLETED")}))] == 2
    assert found[("runpod_jobs_finished_total", frozenset({ep, ("status", "FAILED")}))] == 1
    assert found[("runpod_jobs_finished_last_hour", frozenset({ep, ("status", "completed")}))] == 2
    assert found[("runpod_job_delay_seconds_bucket", frozenset({ep, ("le", "0.1")}))] == 1
    assert found[("runpod_job_delay_seconds_count", frozenset({ep}))] == 2
    assert found[("runpod_job_delay_seconds_sum", frozenset({ep}))] == pytest.approx(4.05)


def test_429s_from_runpod_are_a_counter_per_endpoint(client, metrics_token):
    """The poller's running total of 429s is exported as a counter, beside the current backoff."""
    make_endpoint(name="busy", rate_limited_total=12, backoff_count=2)
    found = samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())
    assert found[("runpod_rate_limited_responses_total", frozenset({("endpoint", "busy")}))] == 12
    assert found[("runpod_rate_limit_backoffs", frozenset({("endpoint", "busy")}))] == 2


def test_finished_counters_never_go_down_when_a_job_is_retried_or_deleted(client, metrics_token):
    """Counters are totals of transitions: a retried FAILED job or a pruned one does not lower them."""
    endpoint = make_endpoint(name="e")
    old = timezone.now() - timedelta(minutes=5)
    job = make_job(endpoint=endpoint, status="FAILED", finished_at=old)
    StatusTransition.objects.create(job=job, from_status="IN_PROGRESS", to_status="FAILED", at=old, source="poll")
    key = ("runpod_jobs_finished_total", frozenset({("endpoint", "e"), ("status", "FAILED")}))
    assert samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())[key] == 1
    job.delete()
    recent = make_job(endpoint=endpoint, status="FAILED")
    StatusTransition.objects.create(job=recent, from_status="IN_PROGRESS", to_status="FAILED", source="poll")
    assert samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())[key] == 2


def test_tallies_add_each_settled_transition_once(db):
    """Advancing twice adds nothing the second time; transitions younger than SETTLE are counted but not stored."""
    endpoint = make_endpoint()
    old = timezone.now() - timedelta(minutes=5)
    job = make_job(endpoint=endpoint, status="COMPLETED")
    StatusTransition.objects.create(job=job, from_status="IN_PROGRESS", to_status="COMPLETED", at=old, source="poll")
    fresh = make_job(endpoint=endpoint, status="CANCELLED")
    StatusTransition.objects.create(job=fresh, from_status="IN_QUEUE", to_status="CANCELLED", source="cancel")
    metrics.tallies_advance()
    metrics.tallies_advance()
    stored = metrics.MetricTally.objects.get(endpoint=endpoint).data
    assert stored["n_COMPLETED"] == 1 and stored["n_CANCELLED"] == 0
    read = metrics.tallies_read()[endpoint.pk]
    assert (read["n_COMPLETED"], read["n_CANCELLED"]) == (1, 1)


def test_metrics_need_a_fixed_number_of_queries(client, metrics_token, django_assert_max_num_queries):
    """Ten endpoints cost no more queries than one: nothing is read per endpoint or per job."""
    for n in range(10):
        endpoint = make_endpoint()
        HealthSnapshot.objects.create(endpoint=endpoint, jobs_in_queue=n)
        make_job(endpoint=endpoint, status="COMPLETED", finished_at=timezone.now())
    with django_assert_max_num_queries(20):
        assert client.get("/metrics", headers=metrics_token).status_code == 200


def test_firing_alerts_are_counted_by_endpoint_kind_and_silence(client, metrics_token):
    """Firing alerts show as runpod_alerts_firing; resolved ones do not."""
    from alerts.models import Alert

    endpoint = make_endpoint(name="al")
    Alert.objects.create(kind="stuck_queue", endpoint=endpoint, key="a", summary="stuck")
    Alert.objects.create(kind="stuck_queue", endpoint=endpoint, key="b", summary="stuck too")
    Alert.objects.create(kind="failure_rate", endpoint=endpoint, key="c", summary="old", state="resolved")
    found = samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())
    key = frozenset({("endpoint", "al"), ("kind", "stuck_queue"), ("silenced", "false")})
    assert found[("runpod_alerts_firing", key)] == 2
    assert not any(name == "runpod_alerts_firing" and ("kind", "failure_rate") in labels for name, labels in found)
