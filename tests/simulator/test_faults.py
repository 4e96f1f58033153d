"""Fault injection, latency and rate limits, set at start or changed at run time through /_sim/config."""

import time

import httpx
import pytest

from simulator.testing import SimulatorServer
from tests.simulator.conftest import FAST, KEY
from tests.simulator.helpers import submit

AUTH = {"Authorization": f"Bearer {KEY}"}


def test_error_rate_answers_5xx_and_can_be_switched_off(sim, client):
    """error_rate=1 turns every /v2 answer into a 5xx; error_rate=0 restores them."""
    sim.configure(error_rate=1.0)
    codes = {client.get("/ep/health").status_code for _ in range(20)}
    assert codes <= {500, 502, 503}
    sim.configure(error_rate=0.0)
    assert client.get("/ep/health").status_code == 200
    assert sim.stats()["faults"]["error"] == 20


def test_drop_rate_closes_the_connection_without_an_answer(sim, client):
    """drop_rate=1 closes the connection without a byte; the client sees a protocol error, not a status."""
    sim.configure(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/ep/health")
    sim.configure(drop_rate=0.0)
    assert client.get("/ep/health").status_code == 200


def test_timeout_rate_hangs_past_the_client_timeout(sim, client):
    """timeout_rate=1 holds the request for hang_seconds, past a shorter client timeout."""
    sim.configure(timeout_rate=1.0, hang_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/ep/health", timeout=0.2)
    assert time.monotonic() - started < 0.5


def test_a_hung_request_ends_in_504_or_a_closed_connection(sim, client):
    """After hang_seconds a hung request gets 504 or a closed connection."""
    sim.configure(timeout_rate=1.0, hang_seconds=0.05)
    outcomes = set()
    for _ in range(12):
        try:
            outcomes.add(client.get("/ep/health").status_code)
        except httpx.RemoteProtocolError:
            outcomes.add("closed")
    assert outcomes == {504, "closed"}


def test_rate_limit_burst_answers_the_next_requests_429(sim, client):
    """rate_limit_burst=N makes exactly the next N requests 429, with Retry-After when asked."""
    sim.configure(rate_limit_burst=3, retry_after=2)
    answers = [client.get("/ep/health") for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert answers[0].headers["retry-after"] == "2"
    sim.configure(rate_limit_burst=1, retry_after=None)
    assert "retry-after" not in client.get("/ep/health").headers


def test_latency_is_added_to_every_request(sim, client):
    """latency_ms delays each /v2 answer like a real round trip, and not the control routes."""
    sim.configure(latency_ms=150)
    started = time.monotonic()
    client.get("/ep/health")
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    sim.stats()
    assert time.monotonic() - started < 0.15


def test_faults_spare_the_control_routes(sim):
    """With every request failing, /_sim/ still answers, so a test can always switch faults off."""
    sim.configure(error_rate=1.0, drop_rate=0.0)
    assert sim.stats()["faults"] == {}
    assert sim.configure(error_rate=0)["error_rate"] == 0


def test_status_rate_limit_answers_429_once_the_window_is_full(sim, client):
    """Past the per-10 s limit of /status (scaled down here to 10) the answer is 429 until the window frees."""
    sim.configure(rate_limits=0.005, retry_after="auto")
    job_id = submit(client)
    codes = [client.get(f"/ep/status/{job_id}").status_code for _ in range(12)]
    assert codes == [200] * 10 + [429] * 2
    limited = client.get(f"/ep/stream/{job_id}")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert client.get("/ep/health").status_code == 200
    assert sim.stats()["max_poll_per_10s"]["ep"] == 13


def test_purge_queue_is_limited_to_two_per_ten_seconds(client):
    """RunPod allows /purge-queue twice per 10 s per endpoint."""
    codes = [client.post("/cold/purge-queue").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.post("/ep/purge-queue").status_code == 200


def test_rate_limits_can_be_switched_off(sim, client):
    """rate_limits=false lets any number of requests through."""
    sim.configure(rate_limits=False)
    assert {client.post("/cold/purge-queue").status_code for _ in range(5)} == {200}


def test_bad_settings_are_refused_with_400(sim):
    """/_sim/config refuses unknown names and out-of-range values and keeps the old settings."""
    response = httpx.post(f"{sim.control_url}/config", json={"error_rate": 2})
    assert response.status_code == 400
    assert httpx.post(f"{sim.control_url}/config", json={"endpoints": []}).status_code == 400
    assert httpx.get(f"{sim.control_url}/config").json()["error_rate"] == 0


def test_the_same_seed_gives_the_same_ids_and_faults():
    """Two simulators started with the same seed hand out the same job ids and play the same faults."""
    runs = []
    for _ in range(2):
        with SimulatorServer(seed=42, endpoints=[FAST], error_rate=0.5) as server:
            answers = [httpx.post(f"{server.base_url}/ep/run", json={"input": {}}, headers=AUTH) for _ in range(12)]
        runs.append([a.json().get("id") if a.status_code == 200 else a.status_code for a in answers])
    assert runs[0] == runs[1]
    assert any(isinstance(x, str) for x in runs[0]) and any(isinstance(x, int) for x in runs[0])
