"""Misbehaving workers set at run time: a cancel that is ignored, a timeout that is not enforced, workers in trouble."""

from tests.simulator.helpers import status, submit, wait_for, wait_status


def test_an_ignored_cancel_leaves_the_job_running_until_it_ends(sim, client):
    """With ignore_cancel, /cancel answers IN_PROGRESS and the job completes on its own."""
    sim.configure(ignore_cancel=True)
    job_id = submit(client, {"seconds": 0.5})
    wait_status(client, job_id, "IN_PROGRESS")
    assert client.post(f"/ep/cancel/{job_id}").json() == {"id": job_id, "status": "IN_PROGRESS"}
    assert status(client, job_id)["status"] == "IN_PROGRESS"
    wait_status(client, job_id, "COMPLETED")


def test_cancel_is_honoured_again_once_switched_back(sim, client):
    """ignore_cancel off: a running job is CANCELLED at once."""
    sim.configure(ignore_cancel=True)
    sim.configure(ignore_cancel=False)
    job_id = submit(client, {"seconds": 5})
    wait_status(client, job_id, "IN_PROGRESS")
    assert client.post(f"/ep/cancel/{job_id}").json()["status"] == "CANCELLED"


def test_an_unenforced_timeout_lets_a_job_run_past_it(sim, client):
    """executionTimeout 5 s at time scale 20 is 0.25 s; with ignore_timeout the 1 s job still COMPLETES."""
    sim.configure(time_scale=20, ignore_timeout=True)
    job_id = submit(client, {"seconds": 1}, policy={"executionTimeout": 5000})
    wait_status(client, job_id, "IN_PROGRESS")
    wait_for(lambda: sim.stats()["jobs"]["ep"].get("IN_PROGRESS") == 1, message="running")
    assert wait_status(client, job_id, ("COMPLETED", "TIMED_OUT"), timeout=5)["status"] == "COMPLETED"


def test_the_timeout_is_enforced_by_default(sim, client):
    """The same job without ignore_timeout ends TIMED_OUT."""
    sim.configure(time_scale=20)
    job_id = submit(client, {"seconds": 1}, policy={"executionTimeout": 5000})
    assert wait_status(client, job_id, ("COMPLETED", "TIMED_OUT"), timeout=5)["status"] == "TIMED_OUT"


def test_workers_turn_unhealthy_and_scale_to_zero_at_run_time(sim, client):
    """max_workers 0 with unhealthy workers: /health shows only them and a job stays queued; restored, it runs."""
    sim.add_endpoint("ep", min_workers=0, max_workers=0, unhealthy_workers=2)
    wait_for(lambda: client.get("/ep/health").json()["workers"]["idle"] == 0, message="the idle workers to leave")
    job_id = submit(client, {"seconds": 0})
    health = client.get("/ep/health").json()
    assert health["workers"]["unhealthy"] == 2 and health["workers"]["running"] == 0
    assert status(client, job_id)["status"] == "IN_QUEUE"
    sim.add_endpoint("ep", max_workers=2, unhealthy_workers=0)
    wait_status(client, job_id, "COMPLETED")
