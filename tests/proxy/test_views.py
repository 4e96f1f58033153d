"""The proxy's routes answer RunPod's operations for registered endpoints, recording every job that passes."""

import json
import time

from django.db import connection

from jobs.models import AuditEntry, Job
from tests.utils import wait_for


def post(client, path, body=None, **extra):
    data = json.dumps(body) if body is not None else ""
    return client.post(path, data=data, content_type="application/json", **extra)


def test_run_records_the_job_as_the_token_owner_and_answers_runpods_id(operator_client, proxy_endpoint, sim):
    """/run answers RunPod's id and status and the job is recorded with input, webhook, policy and submitter."""
    hook = sim.webhook_url("proxy-run")
    body = {"input": {"prompt": "hi"}, "webhook": hook, "policy": {"ttl": 60000}}
    response = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"id", "status"}
    job = Job.objects.get(runpod_id=answer["id"])
    assert job.input == {"prompt": "hi"}
    assert job.webhook == hook
    assert job.policy == {"ttl": 60000}
    assert job.submitted_by.username.startswith("op-")
    assert job.next_poll_at is not None
    entry = AuditEntry.objects.get(job=job, action="submit")
    assert entry.user == job.submitted_by
    # The webhook went on to RunPod with the job, which calls it when the job ends.
    wait_for(lambda: sim.webhooks("proxy-run"), timeout=5, interval=0.05, message="the webhook")


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


def test_a_refused_stored_key_is_502_and_the_job_is_recorded_as_submit_failed(operator_client, proxy_endpoint, sim):
    """RunPod refusing the endpoint's stored key is the gateway's fault (502, not the caller's 401); the job is
    SUBMIT_FAILED with the reason, never sent again, and the key appears nowhere in the answer."""
    sim.configure(api_key="the-real-key")
    try:
        response = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", {"input": {"a": 1}})
    finally:
        sim.configure(api_key=None)
    assert response.status_code == 502
    assert "stored-rp-key" not in response.content.decode()
    job = Job.objects.get()
    assert job.status == "SUBMIT_FAILED"
    assert "401" in job.submit_error
    assert AuditEntry.objects.filter(job=job, action="send", outcome="error").exists()


def test_runpods_own_refusal_passes_through_with_its_status(operator_client, proxy_endpoint):
    """A /retry RunPod refuses (the job is not FAILED) answers RunPod's 400 and body."""
    job_id = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/runsync", {"input": {"a": 1}}).json()["id"]
    response = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/retry/{job_id}")
    assert response.status_code == 400
    assert "only FAILED or TIMED_OUT" in response.json()["error"]


def test_long_waits_beyond_the_slots_get_runpods_shortest_wait(operator_client, proxy_endpoint, settings):
    """With no wait slot free, /runsync is forwarded with a 1 s wait and answers RunPod's id to poll instead."""
    settings.PROXY_WAIT_SLOTS = 0
    body = {"input": {"simulate": {"seconds": 8}}}
    started = time.monotonic()
    answer = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/runsync?wait=60000", body).json()
    assert time.monotonic() - started < 6
    assert answer["status"] in ("IN_QUEUE", "IN_PROGRESS")
    job = Job.objects.get(runpod_id=answer["id"])
    assert job.next_poll_at is not None  # the poller follows it from here


def test_a_process_lets_only_its_wait_slots_hold_long_waits(settings):
    """With two slots, two callers may wait long (capped at PROXY_WAIT_MAX_MS) and a third gets RunPod's 1 s."""
    from proxy.services.forward import wait_allowance

    settings.PROXY_WAIT_SLOTS, settings.PROXY_WAIT_MAX_MS = 2, 10_000
    with (
        wait_allowance("90000", 90_000) as first,
        wait_allowance(None, 90_000) as second,
        wait_allowance("30000", 90_000) as third,
    ):
        assert (first, second, third) == (10_000, 10_000, 1_000)
    with wait_allowance("5000", 90_000) as again:
        assert again == 5_000  # the slots came back


def test_a_remembered_caller_costs_two_queries_per_status_and_nine_per_run(
    operator_client, proxy_endpoint, django_assert_max_num_queries
):
    """Once token and endpoint are remembered, /status of a finished job is the budget and the job; /run adds only
    its own writes."""
    postgres = connection.vendor == "postgresql"
    job_id = post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", {"input": {"n": 1}}).json()["id"]
    status = f"/v2/{proxy_endpoint.runpod_id}/status/{job_id}"
    wait_for(lambda: operator_client.get(status).json()["status"] == "COMPLETED", timeout=5, interval=0.02)
    # A finished job's status again, nothing new to store: the budget (on PostgreSQL one statement that also reads
    # the poller's reservation; on SQLite upsert, sum and reservation) and the job.
    with django_assert_max_num_queries(2 if postgres else 4):
        assert operator_client.get(status).status_code == 200
    # The budget; the job and its audit entry in a transaction; RunPod's answer and its transition in another.
    with django_assert_max_num_queries(9 if postgres else 10):
        assert post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", {"input": {"n": 2}}).status_code == 200


def wsgi_call(path, *, method="GET", token=None, body=b""):
    """One request through dashboard.wsgi.application, the entry point gunicorn serves: (status, headers, body)."""
    import io

    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from dashboard.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    # As Django's test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        content = b"".join(application(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], content


def test_the_deployed_entry_point_serves_v2_through_the_short_chain_and_pages_through_the_full_one(
    operator_token, proxy_endpoint
):
    """/v2/ answers with the token, refuses without, skips the page middleware and keeps the no-store header; a
    page still goes through the whole chain (login, clickjacking header)."""
    base = f"/v2/{proxy_endpoint.runpod_id}"
    status, headers, content = wsgi_call(f"{base}/health", token=operator_token)
    assert status == 200, content
    assert "workers" in json.loads(content)
    assert "no-store" in headers["Cache-Control"]
    assert "Set-Cookie" not in headers
    assert "X-Frame-Options" not in headers  # the page chain's clickjacking middleware did not run
    status, _, content = wsgi_call(f"{base}/run", method="POST", token=operator_token, body=b'{"input": {"w": 1}}')
    assert status == 200, content
    assert Job.objects.get(runpod_id=json.loads(content)["id"]).input == {"w": 1}
    assert wsgi_call(f"{base}/health")[0] == 401
    status, headers, _ = wsgi_call("/")
    assert status == 302
    assert "/login/" in headers["Location"]
    assert headers["X-Frame-Options"] == "DENY"
