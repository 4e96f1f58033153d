"""Bulk actions through the API: the dry run, the typed count, the progress and the stop, with the pages' roles
and audit."""

import json

import pytest

from jobs.models import AuditEntry, BulkAction
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


def post(client, path, body):
    return client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json")


def test_the_dry_run_counts_what_happens_to_each_kind(token_operator):
    """The preview answers totals, endpoints and outcomes for the page's filters, and starts nothing."""
    endpoint = make_endpoint(name="gpu-west")
    make_job(endpoint, status="IN_QUEUE")
    make_job(endpoint, status="COMPLETED")
    response = post(token_operator, "/bulk-actions/preview", {"kind": "cancel", "filters": {"endpoint": endpoint.pk}})
    body = response.json()
    assert response.status_code == 200 and (body["total"], body["acted"], body["skipped"]) == (2, 1, 1)
    assert body["endpoints"] == [{"name": "gpu-west", "jobs": 2, "acted": 1}]
    assert {"acts": False, "what": "already finished (COMPLETED)", "statuses": ["COMPLETED"], "jobs": 1} in body[
        "outcomes"
    ]
    assert not BulkAction.objects.exists()


def test_starting_above_the_threshold_needs_the_count(token_operator, settings):
    """Without the typed count the start is refused with 422 on confirm; with it the batch is created and audited."""
    settings.BULK_CONFIRM_THRESHOLD = 1
    endpoint = make_endpoint()
    make_job(endpoint)
    make_job(endpoint)
    body = {"kind": "stop_tracking", "filters": {"endpoint": endpoint.pk, "status": "IN_QUEUE"}}
    refused = post(token_operator, "/bulk-actions", body)
    assert refused.status_code == 422 and refused.json()["field"] == "confirm"
    started = post(token_operator, "/bulk-actions", {**body, "confirm": "2"})
    data = started.json()
    assert started.status_code == 201 and data["state"] == "running" and data["total"] == 2 and data["left"] == 2
    bulk = BulkAction.objects.get(pk=data["id"])
    assert bulk.filter_query == f"endpoint={endpoint.pk}&status=IN_QUEUE"
    assert AuditEntry.objects.filter(action="bulk_stop_tracking", username="operator").count() == 1


def test_progress_and_stop(token_operator):
    """The progress reads back; a stop ends a batch no task holds and says so."""
    endpoint = make_endpoint()
    make_job(endpoint)
    started = post(token_operator, "/bulk-actions", {"kind": "cancel", "filters": {"endpoint": endpoint.pk}}).json()
    assert token_operator.get(f"/api/v1/bulk-actions/{started['id']}").json()["left"] == 1
    stopped = post(token_operator, f"/bulk-actions/{started['id']}/stop", {})
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped" and stopped.json()["stop_requested"]
    assert token_operator.get("/api/v1/bulk-actions/999999").status_code == 404


def test_viewers_may_read_but_not_start_or_stop(token_viewer, operator):
    """A viewer's start and stop are 403 and audited as denied."""
    endpoint = make_endpoint()
    make_job(endpoint)
    assert post(token_viewer, "/bulk-actions", {"kind": "cancel"}).status_code == 403
    assert post(token_viewer, "/bulk-actions/preview", {"kind": "cancel"}).status_code == 403
    assert AuditEntry.objects.filter(action="bulk", outcome="denied").count() == 2
    assert not BulkAction.objects.exists()


def test_an_unknown_kind_is_refused_with_the_field(token_operator):
    """A kind outside the four is a 422 naming kind, not a 500."""
    response = post(token_operator, "/bulk-actions", {"kind": "delete"})
    assert response.status_code == 422 and "kind" in json.dumps(response.json())
