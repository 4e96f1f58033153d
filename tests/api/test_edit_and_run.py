"""Edit and run through the API: submit with a parent, parent_id in a job, the same roles and audit as the pages."""

import json

import pytest

from jobs.models import AuditEntry, Endpoint, Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db
API = "/api/v1"


def post(client, path, payload):
    return client.post(API + path, json.dumps(payload), content_type="application/json")


def test_submit_with_a_parent_records_it_and_audits_the_edit(token_operator, operator):
    """The new job's parent_id is the job it was edited from; the audit says which parts changed."""
    parent = make_job(input={"prompt": "first"}, status="FAILED")
    payload = {"endpoint": parent.endpoint_id, "input": {"prompt": "second"}, "parent": parent.pk}
    response = post(token_operator, "/jobs", payload)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["parent_id"] == parent.pk
    assert Job.objects.get(pk=body["id"]).parent_id == parent.pk
    entry = AuditEntry.objects.get(action="submit", job_id=body["id"])
    assert entry.user == operator and entry.detail == {"parent": parent.pk, "edited": ["input"]}
    assert token_operator.get(f"{API}/jobs/{parent.pk}").json()["parent_id"] is None


def test_run_again_through_the_api_reports_its_parent(token_operator):
    """Run again answers the new job, whose parent_id is the job it repeats."""
    parent = make_job(status="COMPLETED")
    response = post(token_operator, f"/jobs/{parent.pk}/run-again", {})
    assert response.status_code == 201 and response.json()["parent_id"] == parent.pk


@pytest.mark.parametrize("parent", [999_999_999, 0, -1, "abc", 2**64])
def test_an_unknown_or_malformed_parent_is_422_naming_the_field(token_operator, parent):
    """A parent that names no job is refused with the field, nothing stored."""
    job = make_job()
    response = post(token_operator, "/jobs", {"endpoint": job.endpoint_id, "input": {}, "parent": parent})
    assert response.status_code == 422, response.json()
    assert response.json()["field"] == "parent"
    assert Job.objects.count() == 1


def test_a_viewer_cannot_submit_with_a_parent(token_viewer):
    """Same role as submit: 403, audited as denied, nothing stored."""
    job = make_job()
    response = post(token_viewer, "/jobs", {"endpoint": job.endpoint_id, "input": {}, "parent": job.pk})
    assert response.status_code == 403
    assert AuditEntry.objects.get(outcome="denied").action == "submit"
    assert Job.objects.count() == 1


def test_a_disabled_endpoint_is_refused_with_the_sentence(token_operator):
    """Editing a job on a disabled endpoint and submitting there is a 422 with the service's reason."""
    job = make_job()
    Endpoint.objects.filter(pk=job.endpoint_id).update(enabled=False)
    response = post(token_operator, "/jobs", {"endpoint": job.endpoint_id, "input": {}, "parent": job.pk})
    assert response.status_code == 422
    assert "is disabled, so nothing can be submitted to it" in response.json()["message"]
