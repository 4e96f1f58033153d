"""Worker pools: scaling rules, cold starts, idle timeouts, FIFO order and the states /health reports."""

from tests.simulator.helpers import status, submit, wait_for, wait_status


def workers(client, endpoint):
    return client.get(f"/{endpoint}/health").json()["workers"]


def test_request_count_rule_scales_up_to_max_workers(sim, client):
    """With the request-count rule the pool grows with the queue but never past max_workers."""
    sim.add_endpoint("pool", min_workers=0, max_workers=3, cold_start=0, scaler="request_count", scaler_value=1)
    ids = [submit(client, {"seconds": 0.3}, endpoint="pool") for _ in range(6)]
    peak = wait_for(lambda: (w := workers(client, "pool"))["running"] == 3 and w, message="three running workers")
    assert peak["initializing"] + peak["idle"] + peak["running"] <= 3
    for job_id in ids:
        wait_status(client, job_id, "COMPLETED", endpoint="pool")
    assert sim.stats()["workers_peak"]["pool"] == 3


def test_queue_delay_rule_waits_before_adding_a_worker(sim, client):
    """With the queue-delay rule a worker is added only once the oldest job waited scaler_value seconds."""
    sim.configure(time_scale=20)
    sim.add_endpoint("lazy", min_workers=0, max_workers=2, cold_start=0, scaler="queue_delay", scaler_value=4)
    job_id = submit(client, endpoint="lazy")
    assert workers(client, "lazy")["initializing"] == 0
    done = wait_status(client, job_id, "COMPLETED", endpoint="lazy")
    assert done["delayTime"] >= 200


def test_idle_workers_above_min_retire_after_the_idle_timeout(sim, client):
    """Workers beyond min_workers leave once idle for idle_timeout; min_workers stay."""
    sim.configure(time_scale=20)
    sim.add_endpoint(
        "burst", min_workers=1, max_workers=3, cold_start=0, idle_timeout=5, scaler="request_count", scaler_value=1
    )
    ids = [submit(client, {"seconds": 0.2}, endpoint="burst") for _ in range(3)]
    wait_for(lambda: workers(client, "burst")["running"] == 3, message="three running workers")
    for job_id in ids:
        wait_status(client, job_id, "COMPLETED", endpoint="burst")
    wait_for(lambda: workers(client, "burst")["idle"] == 1, message="the extra workers to retire")
    assert workers(client, "burst")["running"] == 0


def test_jobs_run_first_in_first_out(sim, client):
    """One worker takes jobs in the order they were submitted."""
    sim.add_endpoint("one", min_workers=1, max_workers=1, cold_start=0)
    ids = [submit(client, {"seconds": 0.05}, endpoint="one") for _ in range(5)]
    delays = [wait_status(client, job_id, "COMPLETED", endpoint="one")["delayTime"] for job_id in ids]
    assert delays == sorted(delays)
    assert delays[-1] >= 150


def test_initializing_workers_show_during_a_cold_start(sim, client):
    """A new worker is initializing for its cold start, then runs the job."""
    sim.configure(time_scale=10)
    sim.add_endpoint("gpu", min_workers=0, max_workers=1, cold_start=5, scaler="request_count", scaler_value=1)
    job_id = submit(client, endpoint="gpu")
    assert workers(client, "gpu")["initializing"] == 1
    assert status(client, job_id, "gpu")["status"] == "IN_QUEUE"
    wait_status(client, job_id, "COMPLETED", endpoint="gpu")


def test_throttled_and_unhealthy_workers_are_reported(sim, client):
    """Endpoints can show throttled and unhealthy workers, which take no jobs."""
    sim.add_endpoint("sick", min_workers=0, max_workers=1, throttled_workers=2, unhealthy_workers=1)
    health = workers(client, "sick")
    assert (health["throttled"], health["unhealthy"], health["idle"]) == (2, 1, 0)


def test_low_priority_jobs_do_not_trigger_scaling(sim, client):
    """A policy.lowPriority job waits for a worker that other jobs bring."""
    sim.add_endpoint("low", min_workers=0, max_workers=1, cold_start=0, scaler="request_count", scaler_value=1)
    low = submit(client, endpoint="low", policy={"lowPriority": True})
    assert workers(client, "low")["initializing"] + workers(client, "low")["idle"] == 0
    normal = submit(client, endpoint="low")
    wait_status(client, low, "COMPLETED", endpoint="low")
    wait_status(client, normal, "COMPLETED", endpoint="low")


def test_lowering_max_workers_retires_the_extra_workers(sim, client):
    """Changing an endpoint at run time takes effect: idle workers above the new max leave."""
    assert workers(client, "ep")["idle"] == 2
    sim.add_endpoint("ep", min_workers=1, max_workers=1)
    wait_for(lambda: workers(client, "ep")["idle"] == 1, message="one worker to leave")
    job_id = submit(client)
    assert wait_status(client, job_id, "COMPLETED")["workerId"] == sim.stats()["workers"]["ep"][0]["id"]
