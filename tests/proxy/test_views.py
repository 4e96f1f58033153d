"""The proxy's routes answer RunPod's operations for registered endpoints, recording every job that passes."""

import json

from jobs.models import AuditEntry, Job
from tests.utils import wait_for


def post(client, path, body=None, **extra):
    data = json.dumps(body) if body is not None else ""
    return client.post(path, data=data, content_type="application/json", **extra)


def test_run_records_the_job_as_the_token_owner_and_answers_runpods_id(operator_client, proxy_endpoint):
    """/run answers RunPod's id and status and the job is recorded with input, webhook, policy and submitter."""
    body = {"input": {"prompt": "hi"}, "webhook": "https://example.com/hook", "policy": {"ttl": 60000}}
    response = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"id", "status"}
    job = Job.objects.get(runpod_id=answer["id"])
    assert job.input == {"prompt": "hi"}
    assert job.webhook == "https://example.com/hook"
    assert job.policy == {"ttl": 60000}
    assert job.submitted_by.username.startswith("op-")
    assert job.next_poll_at is not None
    entry = AuditEntry.objects.get(job=job, action="submit")
    assert entry.user == job.submitted_by


def test_status_answers_runpods_object_and_stores_it(operator_client, proxy_endpoint):
    """/status passes RunPod's status object through and the job's record follows it to COMPLETED."""
    job_id = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", {"input": {"n": 1}}).json()["id"]
    answer = wait_for(
        lambda: (
            (a := operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/status/{job_id}").json())["status"]
            == "COMPLETED"
            and a
        ),
        timeout=5,
        interval=0.02,
    )
    assert answer["output"] == {"n": 1}
    job = Job.objects.get(runpod_id=job_id)
    assert job.status == "COMPLETED"
    assert job.output == {"n": 1}
    assert job.archived


def test_runsync_stores_the_result_before_answering(operator_client, proxy_endpoint):
    """/runsync answers the finished status object, already stored and archived."""
    response = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/runsync", {"input": {"sync": True}})
    answer = response.json()
    assert answer["status"] == "COMPLETED"
    job = Job.objects.get(runpod_id=answer["id"])
    assert job.mode == "runsync"
    assert job.output == {"sync": True}
    assert job.archived
