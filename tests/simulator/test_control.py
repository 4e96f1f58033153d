"""The /_sim/ control routes: settings, endpoints, statistics and reset."""

import httpx

from tests.simulator.helpers import submit, wait_for, wait_status


def test_reset_forgets_jobs_statistics_and_settings(sim, client):
    """/_sim/reset brings back the start settings with no jobs, no statistics and no pending faults."""
    job_id = submit(client)
    wait_status(client, job_id, "COMPLETED")
    sim.configure(time_scale=99, rate_limit_burst=5)
    sim.add_endpoint("extra")
    sim.reset()
    assert client.get(f"/ep/status/{job_id}").status_code == 404
    assert client.get("/extra/health").status_code == 404
    config = httpx.get(f"{sim.control_url}/config").json()
    assert (config["time_scale"], config["rate_limit_burst"]) == (1.0, 0)
    stats = sim.stats()
    assert stats["requests"]["ep"] == {"status": 1}
    assert stats["jobs"] == {"ep": {}, "cold": {}}


def test_endpoints_are_listed_added_and_changed(sim):
    """POST /_sim/endpoints adds an endpoint or changes only the settings given; GET lists them all."""
    added = sim.add_endpoint("new", max_workers=7)
    assert (added["max_workers"], added["min_workers"]) == (7, 1)
    changed = sim.add_endpoint("new", cold_start=3)
    assert (changed["max_workers"], changed["cold_start"]) == (7, 3)
    listed = httpx.get(f"{sim.control_url}/endpoints").json()
    assert [e["id"] for e in listed] == ["ep", "cold", "new"]


def test_bad_endpoint_settings_are_refused(sim):
    """Impossible pool settings or unknown names get 400 and change nothing."""
    url = f"{sim.control_url}/endpoints"
    assert httpx.post(url, json={"id": "ep", "min_workers": 9, "max_workers": 2}).status_code == 400
    assert httpx.post(url, json={"id": "ep", "gpus": 2}).status_code == 400
    assert httpx.post(url, json={"max_workers": 2}).status_code == 400
    assert httpx.get(url).json()[0]["max_workers"] == 4


def test_status_sync_answers_the_current_state_when_wait_runs_out(sim, client):
    """/status-sync returns the non-final state once wait has passed."""
    sim.configure(time_scale=10)
    job_id = submit(client, {"seconds": 2})
    assert client.get(f"/ep/status-sync/{job_id}?wait=1000").json()["status"] in ("IN_QUEUE", "IN_PROGRESS")


def test_cancelling_a_streaming_job_keeps_its_unread_chunks(sim, client):
    """A cancelled generator job still hands over the chunks it produced, then reports CANCELLED."""
    job_id = submit(client, {"stream": 50, "interval": 0.02})
    wait_for(lambda: sim.stats()["chunks_produced"] >= 3, message="three chunks")
    client.post(f"/ep/cancel/{job_id}")
    body = client.get(f"/ep/stream/{job_id}").json()
    assert body["status"] == "CANCELLED"
    indexes = [chunk["output"]["index"] for chunk in body["stream"]]
    assert len(indexes) >= 3
    assert indexes == list(range(len(indexes)))
    assert client.get(f"/ep/stream/{job_id}").json()["stream"] == []
