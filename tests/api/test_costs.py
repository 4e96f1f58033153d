"""Costs for programs: each job's cost in the API and the exports, the cost summary, an admin-only price route,
and /metrics' estimated cost per endpoint."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.models import AuditEntry, StatusTransition
from tests.factories import make_endpoint, make_job

from .test_metrics import OPENMETRICS, metrics_token, samples  # noqa: F401 - metrics_token is a fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def costed(db):
    """A priced endpoint with a finished and a running job, and an unpriced endpoint with a finished one."""
    now = timezone.now()
    gpu = make_endpoint(name="h100", price_per_second=Decimal("0.00116"))
    free = make_endpoint(name="free")
    done = make_job(gpu, status="COMPLETED", execution_ms=2_500, finished_at=now - timedelta(minutes=5))
    running = make_job(gpu, status="IN_PROGRESS", started_at=now - timedelta(seconds=60))
    unpriced = make_job(free, status="COMPLETED", execution_ms=9_000, finished_at=now - timedelta(minutes=5))
    return {"gpu": gpu, "free": free, "done": done, "running": running, "unpriced": unpriced}


def test_jobs_carry_their_cost_as_exact_decimal_strings(token_viewer, costed):
    """2.5 s at $0.00116/s is "0.0029"; the running job's is so far; no price is null, not "0"."""
    rows = {row["id"]: row for row in token_viewer.get("/api/v1/jobs").json()["jobs"]}
    assert rows[costed["done"].pk]["cost_usd"] == "0.0029"
    assert rows[costed["done"].pk]["cost_so_far"] is False
    assert rows[costed["running"].pk]["cost_so_far"] is True
    assert Decimal(rows[costed["running"].pk]["cost_usd"]) >= Decimal("0.0696")
    assert rows[costed["unpriced"].pk]["cost_usd"] is None
    detail = token_viewer.get(f"/api/v1/jobs/{costed['done'].pk}").json()
    assert detail["cost_usd"] == "0.0029"
    endpoints = {e["name"]: e for e in token_viewer.get("/api/v1/endpoints").json()}
    assert endpoints["h100"]["price_per_second_usd"] == "0.00116"
    assert endpoints["free"]["price_per_second_usd"] is None


def test_cost_summary_route(token_viewer, costed):
    """Totals, per endpoint, user and day, with the note on what the estimate leaves out; a bad window is 422."""
    body = token_viewer.get("/api/v1/costs", {"window": "7d"}).json()
    assert "idle time" in body["note"] and "cold starts" in body["note"]
    assert Decimal(body["total"]["cost_usd"]) >= Decimal("0.0029") + Decimal("0.0696")
    assert body["total"]["running"] == 1 and body["total"]["unpriced_jobs"] == 1
    endpoints = {line["endpoint"]["name"]: line for line in body["endpoints"]}
    assert endpoints["free"]["cost_usd"] is None and endpoints["free"]["execution_ms"] == 9_000
    assert endpoints["h100"]["price_per_second_usd"] == "0.00116"
    assert len(body["days"]) == 7
    assert token_viewer.get("/api/v1/costs", {"window": "1y"}).status_code == 422


def test_only_admins_set_a_price_through_the_api(token_viewer, token_operator, token_admin, costed):
    """Viewers and operators get 403 (audited as denied); an admin's price is parsed, saved and audited."""
    url = f"/api/v1/endpoints/{costed['free'].pk}/price"
    for client in (token_viewer, token_operator):
        response = client.put(url, {"price_per_second_usd": "1"}, content_type="application/json")
        assert response.status_code == 403
    assert AuditEntry.objects.filter(outcome="denied", endpoint=costed["free"]).count() == 2
    bad = token_admin.put(url, {"price_per_second_usd": "-0.1"}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "price_per_second_usd"
    ok = token_admin.put(url, {"price_per_second_usd": "0.00019"}, content_type="application/json")
    assert ok.status_code == 200
    assert ok.json() == {
        "endpoint": {"id": costed["free"].pk, "name": "free"},
        "price_per_second_usd": "0.00019",
        "changed": True,
    }
    costed["free"].refresh_from_db()
    assert costed["free"].price_per_second == Decimal("0.00019")
    cleared = token_admin.put(url, {"price_per_second_usd": None}, content_type="application/json")
    assert cleared.json()["price_per_second_usd"] is None


def test_exports_have_the_cost_columns(token_viewer, costed):
    """CSV and NDJSON carry cost_usd (empty or null without a price) and cost_so_far."""
    response = token_viewer.get("/api/v1/jobs/export", {"format": "csv"})
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))}
    assert rows[costed["done"].pk]["cost_usd"] == "0.0029"
    assert rows[costed["done"].pk]["cost_so_far"] == "false"
    assert rows[costed["unpriced"].pk]["cost_usd"] == ""
    assert rows[costed["running"].pk]["cost_so_far"] == "true"
    response = token_viewer.get("/api/v1/jobs/export", {"format": "ndjson"})
    lines = {line["id"]: line for line in map(json.loads, b"".join(response.streaming_content).decode().splitlines())}
    assert lines[costed["done"].pk]["cost_usd"] == "0.0029"
    assert lines[costed["unpriced"].pk]["cost_usd"] is None


def test_metrics_export_price_and_estimated_cost(client, metrics_token, costed):  # noqa: F811
    """Per priced endpoint: the price, the finished jobs' execution sum x price, the running jobs so far."""
    old = timezone.now() - timedelta(minutes=5)
    StatusTransition.objects.create(
        job=costed["done"], from_status="IN_PROGRESS", to_status="COMPLETED", at=old, source="poll"
    )
    StatusTransition.objects.create(
        job=costed["unpriced"], from_status="IN_PROGRESS", to_status="COMPLETED", at=old, source="poll"
    )
    found = samples(client.get("/metrics", headers={**metrics_token, "Accept": OPENMETRICS}).content.decode())
    h100 = frozenset({("endpoint", "h100")})
    assert found[("runpod_price_per_second_usd", h100)] == pytest.approx(0.00116)
    assert found[("runpod_estimated_cost_usd", h100)] == pytest.approx(0.0029)
    assert found[("runpod_estimated_cost_running_usd", h100)] == pytest.approx(0.0696, rel=0.2)
    assert ("runpod_estimated_cost_usd", frozenset({("endpoint", "free")})) not in found
