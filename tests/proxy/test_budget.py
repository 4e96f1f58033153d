"""The proxy and the poller share each endpoint's rate budget; over it the proxy answers 429 with Retry-After."""

import json
import time

from django.test import override_settings

from jobs.models import Endpoint, Job
from jobs.services.callcounts import calls_used
from jobs.services.endpoints import status_budget


def run(client, endpoint):
    return client.post(f"/v2/{endpoint.runpod_id}/run", data=json.dumps({"input": {}}), content_type="application/json")


def test_over_the_run_budget_the_proxy_answers_429_with_retry_after_and_records_nothing(
    operator_client, proxy_endpoint
):
    """With a /run limit of 3 per 10 s, the fourth /run is refused by the proxy itself, before RunPod sees it."""
    Endpoint.objects.filter(pk=proxy_endpoint.pk).update(run_rate_per_10s=3)
    assert [run(operator_client, proxy_endpoint).status_code for _ in range(3)] == [200, 200, 200]
    refused = run(operator_client, proxy_endpoint)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert "rate limit" in refused.json()["error"]
    assert Job.objects.count() == 3
    assert calls_used(proxy_endpoint.pk, "run") == 3


def test_the_pollers_status_calls_count_against_the_proxy(operator_client, proxy_endpoint):
    """Status calls the poller reserved on the endpoint row leave the proxy only what is left of the limit."""
    now = int(time.time())
    Endpoint.objects.filter(pk=proxy_endpoint.pk).update(status_rate_per_10s=10, status_calls={str(now): 9})
    first = operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/status/unknown-job")
    assert first.status_code == 404  # RunPod's answer: the one call left went through
    second = operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/status/unknown-job")
    assert second.status_code == 429
    assert "Retry-After" in second


@override_settings(RATE_LIMIT_SHARE=1.0)
def test_the_proxys_status_calls_count_against_the_poller(operator_client, proxy_endpoint):
    """The poller's status budget shrinks by the calls the proxy's callers made."""
    before = status_budget(Endpoint.objects.get(pk=proxy_endpoint.pk))
    for _ in range(3):
        operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/health")
        operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/status/unknown-job")
    assert status_budget(Endpoint.objects.get(pk=proxy_endpoint.pk)) == before - 3


def test_a_count_outside_a_transaction_skips_the_wal_flush_only_for_itself(transactional_db, proxy_endpoint):
    """On PostgreSQL the count's own commit is asynchronous; the connection's later commits stay synchronous."""
    from django.db import connection

    from jobs.services.callcounts import calls_take

    assert calls_take(proxy_endpoint.pk, "health") == 1
    assert calls_take(proxy_endpoint.pk, "health") == 2
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
