"""How the RunPod client builds requests and reads answers: states, outputs, health, streams, URLs, timeouts."""

import asyncio
import json

import httpx
import pytest
import respx

from jobs import runpod
from jobs.runpod import RateLimiter
from jobs.runpod.results import parse_health, parse_job_state, parse_stream, to_int

BASE = "https://rp.test/v2"


@pytest.fixture
def api():
    with respx.mock(base_url=f"{BASE}/ep", assert_all_called=False) as router:
        yield router


@pytest.fixture
def client():
    with runpod.RunPodClient("ep", "key", base_url=BASE, limiter=RateLimiter.unlimited()) as client:
        yield client


def state(**fields):
    return parse_job_state({"id": "j", **fields}, operation="status")


def test_running_is_read_as_in_progress():
    """RUNNING, which some docs use, is reported as IN_PROGRESS and counts as running, not final."""
    job = state(status="RUNNING")
    assert (job.status, job.is_running, job.is_final) == ("IN_PROGRESS", True, False)
    assert job.raw["status"] == "RUNNING"


def test_unknown_state_is_kept_and_not_final():
    """A state we do not know stays visible as sent and is neither final nor running."""
    job = state(status="PAUSED_FOR_MAINTENANCE")
    assert job.status == "PAUSED_FOR_MAINTENANCE" and not job.is_final and not job.is_running


def test_missing_status_is_unknown_and_lower_case_is_accepted():
    """No status reads as UNKNOWN (non-final); a lower-case state is read in RunPod's spelling."""
    assert state().status == "UNKNOWN" and not state().is_final
    assert state(status=" completed ").status == "COMPLETED"


@pytest.mark.parametrize("final", ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"])
def test_the_four_final_states_are_final(final):
    """COMPLETED, FAILED, CANCELLED and TIMED_OUT end a job."""
    assert state(status=final).is_final


def test_missing_output_differs_from_null_output():
    """An absent output key means no output; an explicit null is an output that is null."""
    absent, null = state(status="COMPLETED"), state(status="COMPLETED", output=None)
    assert (absent.has_output, absent.output) == (False, None)
    assert (null.has_output, null.output) == (True, None)


def test_completed_without_output_is_final_and_says_so():
    """COMPLETED with no output (a lost upload) parses cleanly, final, with has_output False."""
    job = state(status="COMPLETED", executionTime=1200)
    assert job.is_final and not job.has_output and job.execution_ms == 1200


def test_output_may_be_any_json():
    """Output is whatever JSON the worker returned: a list, a number, a string, a nested object."""
    for output in ([1, 2], 3.5, "text", {"a": {"b": [None]}}, False):
        assert state(status="COMPLETED", output=output).output == output


def test_failed_error_that_is_json_is_decoded_on_request():
    """A FAILED job's error string stays a string, and error_details decodes it when it is a JSON object."""
    details = {"error_type": "ValueError", "error_message": "bad input", "hostname": "w1"}
    job = state(status="FAILED", error=json.dumps(details))
    assert job.error == json.dumps(details) and job.error_details == details
    assert state(status="FAILED", error="plain words").error_details is None


def test_error_sent_as_an_object_is_kept_as_json_text():
    """A compatible server sending error as an object still yields a string error."""
    job = state(status="FAILED", error={"message": "boom"})
    assert json.loads(job.error) == {"message": "boom"}


def test_extra_fields_are_kept_in_raw():
    """Fields we do not model stay in raw, untouched."""
    job = state(status="IN_QUEUE", newField={"x": 1}, workerId="w-9", retries=2)
    assert job.raw["newField"] == {"x": 1} and job.worker_id == "w-9" and job.retries == 2


def test_numbers_sent_as_strings_or_floats_are_integers():
    """delayTime and friends are read from ints, floats and numeric strings; junk becomes None."""
    job = state(status="COMPLETED", delayTime="1500", executionTime=250.7, retries="x")
    assert (job.delay_ms, job.execution_ms, job.retries) == (1500, 250, None)
    assert [to_int(v) for v in ("3.0", True, None, float("inf"), [1])] == [3, None, None, None, None]


def test_status_answer_without_id_takes_the_id_asked_for():
    """A status object missing its id gets the job id we asked about; a /run answer without id is refused."""
    assert parse_job_state({"status": "IN_QUEUE"}, operation="status", job_id="j7").id == "j7"
    with pytest.raises(runpod.BadResponseError):
        parse_job_state({"status": "IN_QUEUE"}, operation="run")


def test_health_reads_every_counter_and_defaults_unhealthy_to_zero():
    """All counters are integers; unhealthy, absent from the documented answer, reads as 0."""
    body = {
        "jobs": {"completed": 10, "failed": 1, "inProgress": "2", "inQueue": 3.0, "retried": 0},
        "workers": {"idle": 1, "initializing": 0, "ready": 2, "running": 3, "throttled": 4},
    }
    health = parse_health(body)
    assert (health.jobs_completed, health.jobs_in_progress, health.jobs_in_queue) == (10, 2, 3)
    assert (health.workers_running, health.workers_throttled, health.workers_unhealthy) == (3, 4, 0)
    assert health.raw == body


def test_health_tolerates_missing_sections():
    """A health answer without jobs or workers reads as zeros rather than failing."""
    health = parse_health({"workers": None})
    assert health.jobs_completed == 0 and health.workers_idle == 0


def test_stream_chunks_are_the_outputs_in_order():
    """Each stream item's output becomes one chunk; an item without output is kept whole."""
    batch = parse_stream({"status": "IN_PROGRESS", "stream": [{"output": "a"}, {"output": {"t": 1}}, {"x": 2}]})
    assert batch.chunks == ("a", {"t": 1}, {"x": 2}) and not batch.is_final


def test_stream_without_items_or_with_odd_items_loses_nothing():
    """No stream key means no chunks; a lone non-list value is kept as one chunk (it is already drained)."""
    assert parse_stream({"status": "COMPLETED"}).chunks == ()
    assert parse_stream({"status": "COMPLETED", "stream": []}).is_final
    assert parse_stream({"status": "IN_PROGRESS", "stream": {"output": "x"}}).chunks == ("x",)


def test_purge_answer_is_read(client, api):
    """/purge-queue returns how many queued jobs RunPod removed."""
    api.post("/purge-queue").respond(200, json={"removed": 2, "status": "completed"})
    result = client.purge_queue()
    assert (result.removed, result.status) == (2, "completed")


def test_requests_carry_bearer_auth_and_json(client, api):
    """Every request sends the key as a Bearer token; bodies are compact JSON with a JSON content type."""
    route = api.post("/run").respond(200, json={"id": "j", "status": "IN_QUEUE"})
    client.run({"prompt": "héllo"}, webhook="https://hook.test/x", policy={"ttl": 60000}, s3_config={"bucketName": "b"})
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer key"
    assert request.headers["content-type"] == "application/json"
    expected = {
        "input": {"prompt": "héllo"},
        "webhook": "https://hook.test/x",
        "policy": {"ttl": 60000},
        "s3Config": {"bucketName": "b"},
    }
    assert request.content == runpod.encode_body(expected) and json.loads(request.content) == expected


def test_empty_options_are_left_out_of_the_body(client, api):
    """webhook="" and policy=None are not sent at all."""
    route = api.post("/run").respond(200, json={"id": "j", "status": "IN_QUEUE"})
    client.run([1, 2], webhook="", policy=None, s3_config=None)
    assert json.loads(route.calls.last.request.content) == {"input": [1, 2]}


def test_job_ids_are_quoted_as_one_path_segment(client, api):
    """A job id with slashes and question marks stays one quoted segment and cannot reach another route."""
    route = api.get("/status/a%2Fb%3Fc%20d").respond(200, json={"id": "a/b?c d", "status": "IN_QUEUE"})
    assert client.status("a/b?c d").id == "a/b?c d"
    assert route.calls.last.request.url.raw_path == b"/v2/ep/status/a%2Fb%3Fc%20d"


@pytest.mark.parametrize("job_id", ["", ".", ".."])
def test_job_ids_that_cannot_be_a_path_segment_are_refused(client, api, job_id):
    """Empty, "." and ".." would be folded away by URL normalisation, so they raise BadRequestError unsent."""
    route = api.route().respond(200, json={})
    with pytest.raises(runpod.BadRequestError):
        client.cancel(job_id)
    assert route.call_count == 0


def test_long_polls_state_their_wait_and_extend_the_read_timeout(client, api):
    """runsync, status-sync and stream send ?wait= and wait for it plus a margin; plain reads use the timeout."""
    route = api.route().respond(200, json={"id": "j", "status": "COMPLETED", "stream": []})
    client.runsync({}, wait_ms=30_000)
    assert route.calls.last.request.url.params["wait"] == "30000"
    assert route.calls.last.request.extensions["timeout"]["read"] == 40.0
    client.stream("j", wait_ms=500_000)
    assert route.calls.last.request.url.params["wait"] == "300000"
    client.status_sync("j")
    assert route.calls.last.request.url.params["wait"] == "90000"
    client.status("j", ttl_ms=5000)
    request = route.calls.last.request
    assert request.url.params["ttl"] == "5000" and request.extensions["timeout"]["read"] == 15.0


def test_each_operation_uses_its_documented_method_and_path(client, api):
    """The nine operations map onto RunPod's routes."""
    route = api.route().respond(200, json={"id": "j", "status": "IN_QUEUE"})
    calls = [
        (lambda: client.run({}), "POST", "/v2/ep/run"),
        (lambda: client.runsync({}), "POST", "/v2/ep/runsync"),
        (lambda: client.status("j"), "GET", "/v2/ep/status/j"),
        (lambda: client.status_sync("j"), "GET", "/v2/ep/status-sync/j"),
        (lambda: client.stream("j"), "GET", "/v2/ep/stream/j"),
        (lambda: client.cancel("j"), "POST", "/v2/ep/cancel/j"),
        (lambda: client.retry("j"), "POST", "/v2/ep/retry/j"),
        (lambda: client.health(), "GET", "/v2/ep/health"),
        (lambda: client.purge_queue(), "POST", "/v2/ep/purge-queue"),
    ]
    for call, method, path in calls:
        call()
        assert (route.calls.last.request.method, route.calls.last.request.url.path) == (method, path)


def test_async_client_returns_the_same_types(api):
    """The async client returns JobState, StreamBatch, Health and PurgeResult like the sync one."""
    api.get("/status/j").respond(200, json={"id": "j", "status": "IN_QUEUE"})
    api.get("/stream/j").respond(200, json={"status": "IN_PROGRESS", "stream": [{"output": 1}]})
    api.get("/health").respond(200, json={"jobs": {}, "workers": {}})
    api.post("/purge-queue").respond(200, json={"removed": 0, "status": "completed"})

    async def main():
        async with runpod.AsyncRunPodClient(
            "ep", "key", base_url=BASE, http=httpx.AsyncClient(), limiter=RateLimiter.unlimited()
        ) as client:
            return await asyncio.gather(client.status("j"), client.stream("j"), client.health(), client.purge_queue())

    results = asyncio.run(main())
    expected = (runpod.JobState, runpod.StreamBatch, runpod.Health, runpod.PurgeResult)
    assert [type(r) for r in results] == list(expected)


def test_results_are_frozen():
    """Results cannot be changed after parsing."""
    with pytest.raises(AttributeError):
        state(status="IN_QUEUE").status = "COMPLETED"


def test_a_shared_http_client_is_not_closed_but_an_own_one_is():
    """The client closes the pool it made, never one it was given."""
    shared = httpx.Client()
    with runpod.RunPodClient("ep", "k", http=shared):
        pass
    assert not shared.is_closed
    with runpod.RunPodClient("ep", "k") as own:
        pass
    assert own.http.is_closed

    async def main():
        shared_async = httpx.AsyncClient()
        async with runpod.AsyncRunPodClient("ep", "k", http=shared_async):
            pass
        async with runpod.AsyncRunPodClient("ep", "k") as own_async:
            pass
        return shared_async.is_closed, own_async.http.is_closed

    assert asyncio.run(main()) == (False, True)
