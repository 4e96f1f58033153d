"""Contract tests: every RunPod operation against the simulator over real HTTP."""

import json
import re
import time

import httpx

from tests.simulator.helpers import status, submit, wait_for, wait_status

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_run_queues_a_job_that_completes_echoing_its_input(client):
    """A /run job is IN_QUEUE at first and COMPLETED later with its input as output."""
    response = client.post("/ep/run", json={"input": {"prompt": "hello"}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "IN_QUEUE"
    assert set(body) == {"id", "status"}
    done = wait_status(client, body["id"], "COMPLETED")
    assert done["output"] == {"prompt": "hello"}


def test_job_ids_look_like_runpod_ids(client):
    """/run ids are uuid4 strings and /runsync ids are sync-<uuid4>."""
    assert re.fullmatch(UUID4, submit(client))
    sync = client.post("/ep/runsync", json={"input": {}}).json()
    assert re.fullmatch(f"sync-{UUID4}", sync["id"])


def test_completed_status_carries_times_and_worker(client):
    """A finished job reports delayTime, executionTime (ms) and the worker that ran it."""
    job_id = submit(client, {"seconds": 0.1})
    done = wait_status(client, job_id, "COMPLETED")
    assert done["executionTime"] >= 100
    assert done["delayTime"] >= 0
    assert re.fullmatch(r"[a-z0-9]{14}", done["workerId"])
    assert "error" not in done


def test_running_job_is_in_progress_with_a_worker(client):
    """While the handler runs, the job is IN_PROGRESS with its worker and delay, without output."""
    job_id = submit(client, {"seconds": 1})
    running = wait_status(client, job_id, "IN_PROGRESS")
    assert running["workerId"]
    assert "delayTime" in running
    assert "output" not in running


def test_runsync_returns_the_result_when_the_job_ends_in_time(client):
    """/runsync answers with the whole status object and output when the job finishes within wait."""
    response = client.post("/ep/runsync", json={"input": {"n": 1, "simulate": {"seconds": 0.05}}})
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert body["output"] == {"n": 1, "simulate": {"seconds": 0.05}}
    assert body["executionTime"] >= 50


def test_runsync_hands_back_an_id_when_the_job_outlasts_wait(sim, client):
    """A /runsync job still running after wait comes back as an id to poll, and finishes later."""
    started = time.monotonic()
    body = client.post("/ep/runsync?wait=1000", json={"input": {"simulate": {"seconds": 1.5}}}).json()
    assert 0.9 < time.monotonic() - started < 1.5
    assert body["status"] in ("IN_QUEUE", "IN_PROGRESS")
    assert set(body) == {"id", "status"}
    assert wait_status(client, body["id"], "COMPLETED")["output"]


def test_failed_job_carries_runpod_json_error_string(client):
    """simulate.fail makes a FAILED job whose error is a JSON string like RunPod's."""
    job_id = submit(client, {"fail": "CUDA out of memory"})
    failed = wait_status(client, job_id, "FAILED")
    error = json.loads(failed["error"])
    assert error["error_message"] == "CUDA out of memory"
    assert error["error_type"] and error["error_traceback"]
    assert error["worker_id"] == failed["workerId"]
    assert "output" not in failed


def test_no_output_job_completes_without_an_output_key(client):
    """simulate.no_output gives RunPod's known trap: COMPLETED and no output at all."""
    done = wait_status(client, submit(client, {"no_output": True}), "COMPLETED")
    assert "output" not in done


def test_output_bytes_sets_the_size_of_the_output(client):
    """simulate.output_bytes makes an output of that many characters."""
    done = wait_status(client, submit(client, {"output_bytes": 5000}), "COMPLETED")
    assert len(done["output"]["data"]) == 5000


def test_progress_updates_show_in_status_while_running(client):
    """simulate.progress puts progress updates in `output` while the job is IN_PROGRESS."""
    job_id = submit(client, {"seconds": 1, "progress": True, "interval": 0.1})
    update = wait_for(
        lambda: (s := status(client, job_id))["status"] == "IN_PROGRESS" and s.get("output"),
        message="a progress update",
    )
    assert 0 < update["progress"] < 1
    assert wait_status(client, job_id, "COMPLETED")["output"]["prompt"] == "hello"


def test_stream_drains_chunks_incrementally_without_replay(client):
    """Each /stream call returns only the chunks produced since the last one; all arrive once, in order."""
    job_id = submit(client, {"stream": 5, "interval": 0.1})
    seen, answers = [], 0
    while True:
        body = client.get(f"/ep/stream/{job_id}").json()
        answers += 1
        seen.extend(chunk["output"]["index"] for chunk in body["stream"])
        if body["status"] == "COMPLETED" and not body["stream"]:
            break
        time.sleep(0.03)
    assert seen == [0, 1, 2, 3, 4]
    assert answers > 2
    assert client.get(f"/ep/stream/{job_id}").json()["stream"] == []


def test_stream_wait_holds_an_empty_call_until_a_chunk_arrives(client):
    """/stream?wait= keeps an empty call open until the next chunk instead of answering at once."""
    job_id = submit(client, {"stream": 2, "interval": 0.4})
    started = time.monotonic()
    body = client.get(f"/ep/stream/{job_id}?wait=5000").json()
    assert body["stream"] and body["stream"][0]["output"]["index"] == 0
    assert 0.3 < time.monotonic() - started < 2


def test_stream_job_output_is_the_aggregated_chunks(client):
    """A streaming job's final output lists every chunk, as RunPod's return_aggregate_stream does."""
    done = wait_status(client, submit(client, {"stream": 3, "interval": 0.01}), "COMPLETED")
    assert [c["index"] for c in done["output"]] == [0, 1, 2]


def test_status_sync_waits_until_the_job_is_final(client):
    """/status-sync long-polls until the job reaches a final state."""
    job_id = submit(client, {"seconds": 0.3})
    body = client.get(f"/ep/status-sync/{job_id}?wait=10000").json()
    assert body["status"] == "COMPLETED"


def test_cancel_of_a_queued_job(client):
    """Cancelling a queued job makes it CANCELLED and it never runs."""
    job_id = submit(client, endpoint="cold")
    body = client.post(f"/cold/cancel/{job_id}").json()
    assert body == {"id": job_id, "status": "CANCELLED"}
    assert status(client, job_id, "cold")["status"] == "CANCELLED"
    assert client.get("/cold/health").json()["jobs"]["inQueue"] == 0


def test_cancel_of_a_running_job_stops_it(client):
    """Cancelling a running job makes it CANCELLED at once and frees its worker."""
    job_id = submit(client, {"seconds": 30})
    wait_status(client, job_id, "IN_PROGRESS")
    assert client.post(f"/ep/cancel/{job_id}").json()["status"] == "CANCELLED"
    wait_for(lambda: client.get("/ep/health").json()["jobs"]["inProgress"] == 0, message="the worker to be freed")
    assert status(client, job_id)["status"] == "CANCELLED"


def test_cancel_of_a_finished_job_changes_nothing(client):
    """Cancelling a COMPLETED job answers its current state."""
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    assert client.post(f"/ep/cancel/{job_id}").json()["status"] == "COMPLETED"


def test_retry_of_a_failed_job_requeues_the_same_id(client):
    """/retry puts a FAILED job back in the queue under the same id, drops its error and counts the retry."""
    job_id = submit(client, {"fail": "boom"})
    wait_status(client, job_id, "FAILED")
    assert client.post(f"/ep/retry/{job_id}").json() == {"id": job_id, "status": "IN_QUEUE"}
    again = wait_status(client, job_id, "FAILED")
    assert again["retries"] == 1
    assert client.get("/ep/health").json()["jobs"]["retried"] == 1


def test_retry_of_a_completed_job_is_refused(client):
    """Only FAILED or TIMED_OUT jobs can be retried; others get 400."""
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    response = client.post(f"/ep/retry/{job_id}")
    assert response.status_code == 400
    assert "FAILED or TIMED_OUT" in response.json()["error"]


def test_purge_removes_queued_jobs_only_and_counts_them(sim, client):
    """/purge-queue removes the queued jobs, lets the running one finish and returns the count."""
    sim.add_endpoint("cold", min_workers=1)
    running = submit(client, {"seconds": 0.5}, endpoint="cold")
    wait_status(client, running, "IN_PROGRESS", endpoint="cold")
    queued = [submit(client, endpoint="cold") for _ in range(3)]
    assert client.post("/cold/purge-queue").json() == {"removed": 3, "status": "completed"}
    assert all(status(client, j, "cold")["status"] == "CANCELLED" for j in queued)
    assert wait_status(client, running, "COMPLETED", endpoint="cold")
    assert client.post("/cold/purge-queue").json()["removed"] == 0


def test_health_reports_job_counters_and_worker_states(client):
    """/health has RunPod's job counters and worker states, all integers."""
    wait_status(client, submit(client), "COMPLETED")
    wait_status(client, submit(client, {"fail": "x"}), "FAILED")
    submit(client, endpoint="cold")
    health = client.get("/ep/health").json()
    assert health["jobs"] == {"completed": 1, "failed": 1, "inProgress": 0, "inQueue": 0, "retried": 0}
    assert set(health["workers"]) == {"idle", "initializing", "ready", "running", "throttled", "unhealthy"}
    assert health["workers"]["idle"] == 2
    assert client.get("/cold/health").json()["jobs"]["inQueue"] == 1


def test_a_wrong_or_missing_key_is_refused_with_401(sim, client):
    """No key, an empty Bearer key or (once a key is required) another key gets 401."""
    assert httpx.get(f"{sim.base_url}/ep/health").status_code == 401
    assert httpx.get(f"{sim.base_url}/ep/health", headers={"Authorization": "Bearer"}).status_code == 401
    assert client.get("/ep/health").status_code == 200
    sim.configure(api_key="the-one-key")
    assert client.get("/ep/health").status_code == 401
    ok = httpx.get(f"{sim.base_url}/ep/health", headers={"Authorization": "Bearer the-one-key"})
    assert ok.status_code == 200


def test_unknown_endpoint_or_job_is_404(client):
    """An unknown endpoint id and an unknown job id both answer 404."""
    assert client.get("/nope/health").status_code == 404
    assert client.post("/nope/run", json={"input": {}}).status_code == 404
    assert client.get("/ep/status/not-a-job").status_code == 404
    assert client.post("/ep/cancel/not-a-job").status_code == 404


def test_oversize_payloads_are_refused_with_413(client):
    """/run takes at most 10 MB and /runsync 20 MB."""
    big = {"input": {"blob": "x" * (11 * 1024 * 1024)}}
    assert client.post("/ep/run", json=big).status_code == 413
    response = client.post("/ep/runsync", json={**big, "input": {**big["input"], "simulate": {"no_output": True}}})
    assert response.status_code == 200
    huge = {"input": {"blob": "x" * (21 * 1024 * 1024)}}
    assert client.post("/ep/runsync", json=huge).status_code == 413


def test_bad_bodies_are_refused_with_400(client):
    """A body without input, bad JSON, a bad simulate or an out-of-range policy gets 400."""
    assert client.post("/ep/run", json={"prompt": "no input key"}).status_code == 400
    assert client.post("/ep/run", content=b"{not json").status_code == 400
    assert client.post("/ep/run", json={"input": {"simulate": {"secs": 1}}}).status_code == 400
    assert client.post("/ep/run", json={"input": {}, "policy": {"ttl": 5}}).status_code == 400
    assert client.post("/ep/run", json={"input": {}, "webhook": "ftp://x"}).status_code == 400


def test_operations_take_runpods_methods(client):
    """Status-like operations take GET and POST; run, cancel and purge only POST; health only GET."""
    job_id = submit(client)
    assert client.post(f"/ep/status/{job_id}").status_code == 200
    assert client.post(f"/ep/stream/{job_id}").status_code == 200
    assert client.get(f"/ep/status-sync/{job_id}?wait=1000").status_code == 200
    assert client.get("/ep/run").status_code == 405
    assert client.get(f"/ep/cancel/{job_id}").status_code == 405
    assert client.get("/ep/purge-queue").status_code == 405
    assert client.post("/ep/health").status_code == 405


def test_webhook_is_posted_when_a_job_ends(sim, client):
    """A job with a webhook POSTs its status object, input and webhook URL there when it ends."""
    url = sim.webhook_url("done")
    job_id = submit(client, {"fail": "nope"}, webhook=url)
    payloads = wait_for(lambda: sim.webhooks("done"), message="the webhook")
    assert payloads[0]["id"] == job_id
    assert payloads[0]["status"] == "FAILED"
    assert payloads[0]["input"]["prompt"] == "hello"
    assert payloads[0]["webhook"] == url


def test_webhook_is_retried_twice_then_given_up(sim, client):
    """A webhook answered with errors is tried three times, 10 RunPod seconds apart, then dropped."""
    sim.configure(time_scale=100)
    httpx.post(f"{sim.webhook_url('flaky')}/fail?count=2")
    submit(client, webhook=sim.webhook_url("flaky"))
    wait_for(lambda: sim.webhooks("flaky"), message="the third attempt to land")
    assert sim.stats()["webhooks"] == {"sent": 3, "delivered": 1}
    httpx.post(f"{sim.webhook_url('dead')}/fail?count=5")
    submit(client, webhook=sim.webhook_url("dead"))
    wait_for(lambda: sim.stats()["webhooks"].get("failed") == 1, message="the webhook to be given up")
    assert sim.stats()["webhooks"]["sent"] == 6


def test_stats_count_requests_responses_and_jobs(sim, client):
    """/_sim/stats counts requests per endpoint and operation, answers per code and jobs per state."""
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    client.get("/nope/health")
    stats = sim.stats()
    assert stats["requests"]["ep"]["run"] == 1
    assert stats["requests"]["ep"]["status"] >= 1
    assert stats["responses"]["404"] == 1
    assert stats["jobs"]["ep"] == {"COMPLETED": 1}
    assert stats["max_poll_per_10s"]["ep"] == stats["requests"]["ep"]["status"]


def test_a_full_queue_answers_429(sim, client):
    """An endpoint holding max_queue queued jobs refuses more with 429."""
    sim.add_endpoint("cold", max_queue=2)
    submit(client, endpoint="cold")
    submit(client, endpoint="cold")
    assert client.post("/cold/run", json={"input": {}}).status_code == 429
