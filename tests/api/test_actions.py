"""Actions through the API: the same services, validation, audit and role refusals as the pages."""

import json

import pytest

from jobs import services
from jobs.models import AuditEntry, Job
from jobs.services.clients import client_for
from tests.factories import make_endpoint, make_job
from tests.utils import wait_for

pytestmark = pytest.mark.django_db
API = "/api/v1"


def post(client, path, payload=None, **headers):
    return client.post(API + path, json.dumps(payload or {}), content_type="application/json", headers=headers)


def sent_job(endpoint, **simulate):
    job = services.job_submit(endpoint=endpoint, input={"simulate": simulate})
    services.job_send(job.pk)
    job.refresh_from_db()
    assert job.runpod_id, "the simulator accepted the job"
    return job


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/jobs", "submit"),
        ("/jobs/track", "track"),
        ("/jobs/{job}/cancel", "cancel"),
        ("/jobs/{job}/retry", "retry"),
        ("/jobs/{job}/run-again", "submit"),
        ("/endpoints/{endpoint}/purge-queue", "purge"),
    ],
)
def test_viewer_token_is_refused_every_action_and_audited(token_viewer, path, action):
    """A viewer's token gets 403 JSON for every action, nothing changes, and the attempt is audited as denied."""
    job = make_job(status="FAILED")
    url = path.format(job=job.pk, endpoint=job.endpoint_id)
    payload = {"endpoint": job.endpoint_id, "input": {"p": 1}, "runpod_id": "x", "confirm": job.endpoint.name}
    response = post(token_viewer, url, payload)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and "Operators" in response.json()["message"]
    entry = AuditEntry.objects.get(outcome="denied")
    assert (entry.action, entry.username) == (action, "viewer")
    assert Job.objects.count() == 1 and Job.objects.get().status == "FAILED"


@pytest.mark.parametrize(("mode", "stream"), [("run", False), ("runsync", False), ("run", True)])
def test_operator_submits_async_sync_and_stream_with_webhook_and_policy(
    token_operator, operator, endpoint, mode, stream
):
    """Submit stores a PENDING job with everything asked, owned by the token's user, audited as the page does."""
    payload = {
        "endpoint": endpoint.pk,
        "input": {"prompt": "a lighthouse"},
        "mode": mode,
        "stream": stream,
        "webhook": "https://example.com/hook",
        "policy": {"executionTimeout": 60000, "ttl": 120000, "lowPriority": True},
    }
    response = post(token_operator, "/jobs", payload)
    assert response.status_code == 201, response.json()
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert (job.mode, job.streaming, job.status, job.submitted_by) == (mode, stream, "PENDING", operator)
    assert job.webhook == "https://example.com/hook" and job.policy["ttl"] == 120000
    assert body["input"] == {"prompt": "a lighthouse"} and body["status"] == "PENDING"
    entry = AuditEntry.objects.get(action="submit")
    assert entry.user == operator and entry.outcome == "ok" and entry.remote_addr == "127.0.0.1"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"input": {"p": 1}, "webhook": "ftp://example.com/x"}, None),
        ({"input": {"p": 1}, "policy": {"executionTimeout": 10}}, None),
        ({"input": {"p": 1}, "policy": {"bogus": 1}}, None),
        ({"input": [1, 2]}, "input"),
        ({"input": {"p": 1}, "mode": "batch"}, "mode"),
        ({"input": {"p": "\u0000"}}, None),
    ],
)
def test_bad_submissions_are_422_with_the_services_reason(token_operator, endpoint, payload, field):
    """The service's own validation answers: 422 with its sentence, nothing stored."""
    response = post(token_operator, "/jobs", {"endpoint": endpoint.pk, **payload})
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["code"] == "invalid" and body["message"]
    if field:
        assert body["field"] == field
    assert not Job.objects.exists()


def test_an_unknown_endpoint_is_422_naming_the_field(token_operator):
    """Submitting to an endpoint id that does not exist names the endpoint field."""
    response = post(token_operator, "/jobs", {"endpoint": 999999, "input": {}})
    assert response.status_code == 422 and response.json()["field"] == "endpoint"


def test_oversize_input_is_refused_with_runpods_limit(token_operator, endpoint, monkeypatch):
    """An input over RunPod's /run limit is refused with the limit, as on the page."""
    monkeypatch.setattr("jobs.runpod.RUN_MAX_BYTES", 1024 * 1024)
    response = post(token_operator, "/jobs", {"endpoint": endpoint.pk, "input": {"p": "x" * (1024 * 1024)}})
    assert response.status_code == 422 and "at most 1 MB for /run" in response.json()["message"]


def test_a_body_over_the_server_limit_is_413(token_operator, endpoint, settings):
    """A body Django refuses to read answers 413 in JSON."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = post(token_operator, "/jobs", {"endpoint": endpoint.pk, "input": {"p": "y" * 5000}})
    assert response.status_code == 413 and response.json()["code"] == "too_large"


@pytest.mark.parametrize("body", ["{not json", "[" * 100_000, '{"endpoint": 1, "input": {"n": 1' + "0" * 5000 + "}}"])
def test_unparsable_bodies_are_400_not_500(token_operator, body):
    """Broken JSON, absurd nesting and over-long numbers answer 400 with a sentence."""
    response = token_operator.post(f"{API}/jobs", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def test_track_follows_a_job_by_id(token_operator, endpoint):
    """Track records a tracked job once; tracking it again returns the same job."""
    first = post(token_operator, "/jobs/track", {"endpoint": endpoint.pk, "runpod_id": "abc-123"})
    assert first.status_code == 201 and first.json()["tracked"] is True
    again = post(token_operator, "/jobs/track", {"endpoint": endpoint.pk, "runpod_id": "abc-123"})
    assert again.json()["id"] == first.json()["id"] and Job.objects.count() == 1
    bad = post(token_operator, "/jobs/track", {"endpoint": endpoint.pk, "runpod_id": "two words"})
    assert bad.status_code == 422 and "single word" in bad.json()["message"]


def test_cancel_reaches_runpod_and_is_audited(token_operator, sim_endpoint):
    """Cancelling a running job calls RunPod and records it."""
    job = sent_job(sim_endpoint, seconds=30)
    response = post(token_operator, f"/jobs/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert AuditEntry.objects.filter(action="cancel", outcome="ok", job=job, username="operator").exists()


def test_cancelling_a_finished_job_is_409(token_operator):
    """The job's state forbids it: 409 with the service's sentence."""
    job = make_job(status="COMPLETED")
    response = post(token_operator, f"/jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "cannot be cancelled" in response.json()["message"]


def test_retry_reaches_runpod_for_a_failed_job(token_operator, sim_endpoint):
    """Retrying a FAILED job puts it back in RunPod's queue."""
    job = sent_job(sim_endpoint, seconds=0.05, fail="boom")
    with client_for(sim_endpoint) as client:
        state = wait_for(
            lambda: (s := client.status(job.runpod_id)).status == "FAILED" and s, timeout=20, message="a failure"
        )
    services.job_apply_state(job, state, source="poll")
    response = post(token_operator, f"/jobs/{job.pk}/retry")
    assert response.status_code == 200 and response.json()["status"] == "IN_QUEUE"
    assert AuditEntry.objects.filter(action="retry", outcome="ok").exists()


def test_runpod_unreachable_is_502_and_audited(token_operator):
    """When RunPod cannot be reached the answer is 502 with the reason, and the audit records the error."""
    job = make_job(make_endpoint(base_url="http://127.0.0.1:9/v2"), status="IN_PROGRESS")
    response = post(token_operator, f"/jobs/{job.pk}/cancel")
    assert response.status_code == 502 and "RunPod did not answer" in response.json()["message"]
    assert AuditEntry.objects.filter(action="cancel", outcome="error").exists()


def test_run_again_makes_a_new_job_with_the_same_input(token_operator, endpoint):
    """Run again answers 201 with the new job, carrying the old one's input and policy."""
    job = make_job(endpoint, status="COMPLETED", input={"prompt": "again"}, policy={"ttl": 60000})
    response = post(token_operator, f"/jobs/{job.pk}/run-again")
    assert response.status_code == 201
    new = Job.objects.get(pk=response.json()["id"])
    assert new.pk != job.pk and (new.input, new.policy, new.status) == ({"prompt": "again"}, {"ttl": 60000}, "PENDING")


def test_purge_needs_the_exact_name_and_reports_runpods_count(token_operator, sim_endpoint):
    """A wrong confirm is 422 naming the field; the right one purges and returns RunPod's count, audited."""
    wrong = post(token_operator, f"/endpoints/{sim_endpoint.pk}/purge-queue", {"confirm": "nope"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "confirm"
    sim_endpoint_queue = [sent_job(sim_endpoint, seconds=30) for _ in range(6)]
    assert sim_endpoint_queue
    response = post(token_operator, f"/endpoints/{sim_endpoint.pk}/purge-queue", {"confirm": sim_endpoint.name})
    assert response.status_code == 200 and response.json()["removed"] >= 1
    assert AuditEntry.objects.filter(action="purge", outcome="ok").exists()


def test_session_writes_need_the_csrf_token(operator, endpoint):
    """From the browser, a POST without the CSRF header is refused and nothing is stored."""
    from tests.utils import logged_in

    strict = logged_in(operator, enforce_csrf_checks=True)
    response = post(strict, "/jobs", {"endpoint": endpoint.pk, "input": {"p": 1}})
    assert response.status_code in (401, 403)
    assert not Job.objects.exists()


def test_a_job_runpod_has_forgotten_is_409_not_502(token_operator, sim_endpoint):
    """Retrying a job whose id RunPod no longer knows answers 409 with RunPod's reason, audited as an error."""
    job = make_job(sim_endpoint, status="FAILED", runpod_id="never-sent-to-runpod")
    response = post(token_operator, f"/jobs/{job.pk}/retry")
    assert response.status_code == 409 and response.json()["code"] == "runpod_not_found"
    assert AuditEntry.objects.filter(action="retry", outcome="error").exists()


def test_an_admin_token_acts_too(token_admin, admin_user, endpoint):
    """Admins hold every operator permission: submit and track answer 201 with the admin as submitter."""
    response = post(token_admin, "/jobs", {"endpoint": endpoint.pk, "input": {"p": 1}})
    assert response.status_code == 201 and response.json()["submitted_by"] == "admin"
    assert post(token_admin, "/jobs/track", {"endpoint": endpoint.pk, "runpod_id": "abc"}).status_code == 201
    assert Job.objects.filter(submitted_by=admin_user).count() == 2
