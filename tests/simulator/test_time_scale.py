"""RunPod durations (retention, ttl, executionTimeout, cold start) run time_scale times faster; simulate's don't."""

import time

from tests.simulator.helpers import status, submit, wait_for, wait_gone, wait_status


def test_a_run_result_is_kept_30_minutes_then_404(sim, client):
    """At time_scale 1800 a /run result lives one real second after completion, then /status answers 404."""
    sim.configure(time_scale=1800)
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    finished = time.monotonic()
    wait_gone(client, job_id)
    assert 0.8 < time.monotonic() - finished < 2
    assert sim.stats()["jobs_stored"] == 0


def test_a_runsync_result_is_kept_60_seconds_only(sim, client):
    """/runsync results expire after 60 RunPod seconds while /run results of the same age remain."""
    sim.configure(time_scale=300)
    run_id = submit(client)
    sync = client.post("/ep/runsync", json={"input": {}}).json()
    assert sync["status"] == "COMPLETED"
    wait_gone(client, sync["id"])
    assert status(client, run_id)["status"] == "COMPLETED"


def test_policy_ttl_ends_a_queued_job(sim, client):
    """policy.ttl is the job's whole lifespan: past it a job that never ran is gone (404)."""
    sim.configure(time_scale=100)
    job_id = submit(client, endpoint="cold", policy={"ttl": 20_000})
    assert status(client, job_id, "cold")["status"] == "IN_QUEUE"
    wait_gone(client, job_id, endpoint="cold")
    assert client.get("/cold/health").json()["jobs"]["inQueue"] == 0


def test_execution_timeout_times_the_job_out_and_retry_runs_it_again(sim, client):
    """A job running past policy.executionTimeout is TIMED_OUT, frees its worker and can be retried."""
    sim.configure(time_scale=50)
    job_id = submit(client, {"seconds": 5}, policy={"executionTimeout": 5_000})
    timed_out = wait_status(client, job_id, "TIMED_OUT")
    assert 80 <= timed_out["executionTime"] < 1000
    assert client.get("/ep/health").json()["jobs"]["failed"] == 1
    assert client.post(f"/ep/retry/{job_id}").json()["status"] == "IN_QUEUE"
    assert wait_status(client, job_id, "TIMED_OUT")["retries"] == 1


def test_simulate_seconds_are_real_seconds_whatever_the_scale(sim, client):
    """simulate.seconds is wall-clock time, so tests can reason about it at any time scale."""
    sim.configure(time_scale=1000)
    done = wait_status(client, submit(client, {"seconds": 0.3}), "COMPLETED")
    assert done["executionTime"] >= 300


def test_changing_the_scale_at_run_time_speeds_up_pending_expiry(sim, client):
    """A result kept 30 minutes at scale 1 goes within a second once the scale becomes 3600."""
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    assert status(client, job_id)["status"] == "COMPLETED"
    sim.configure(time_scale=3600)
    wait_gone(client, job_id, timeout=2)


def test_status_ttl_query_shortens_the_retention(sim, client):
    """/status?ttl=ms keeps a finished job's result that long from now."""
    sim.configure(time_scale=10)
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    assert client.get(f"/ep/status/{job_id}?ttl=2000").status_code == 200
    wait_gone(client, job_id, timeout=2)


def test_cold_start_is_scaled(sim, client):
    """A cold start of 100 RunPod seconds lasts a tenth of a second at time_scale 1000."""
    sim.configure(time_scale=1000)
    sim.add_endpoint("slow", min_workers=0, max_workers=1, cold_start=100, scaler="request_count", scaler_value=1)
    job_id = submit(client, endpoint="slow")
    assert client.get("/slow/health").json()["workers"]["initializing"] == 1
    done = wait_status(client, job_id, "COMPLETED", endpoint="slow")
    assert 90 <= done["delayTime"] < 1000


def test_expired_jobs_free_their_memory(sim, client):
    """Expired jobs leave the simulator's memory, so long runs stay bounded."""
    sim.configure(time_scale=3600, rate_limits=False)
    ids = [submit(client) for _ in range(50)]
    wait_for(lambda: sim.stats()["jobs_stored"] == 0, message="all jobs to expire")
    assert sim.stats()["engine"]["jobs_expired"] == len(ids)
