"""The official `runpod` package, pointed at the simulator, cannot tell it from RunPod."""

import asyncio

import pytest
import runpod
from runpod.http_client import ClientSession

from tests.simulator.conftest import KEY
from tests.simulator.helpers import wait_for


@pytest.fixture
def endpoint(sim, monkeypatch):
    """runpod.Endpoint("ep") talking to the simulator, as RUNPOD_ENDPOINT_BASE_URL would make it."""
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", sim.base_url)
    # The package reads the variable once at import; its clients read these module attributes when created.
    monkeypatch.setattr(runpod, "endpoint_url_base", sim.base_url)
    monkeypatch.setattr(runpod, "api_key", KEY)
    return runpod.Endpoint("ep")


def test_run_then_status_and_output(endpoint):
    """Endpoint.run gives a Job whose status and output come from the simulator."""
    job = endpoint.run({"prompt": "a lighthouse"})
    assert job.status() in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert job.output(timeout=10) == {"prompt": "a lighthouse"}
    assert job.status() == "COMPLETED"


def test_run_sync_returns_the_output(endpoint):
    """Endpoint.run_sync returns the output of a job that finishes within /runsync's wait."""
    job_input = {"n": 3, "simulate": {"seconds": 0.1}}
    assert endpoint.run_sync(job_input, timeout=10) == job_input


def test_stream_yields_every_chunk_then_stops(endpoint):
    """Job.stream yields each chunk once, in order, and ends when the job is COMPLETED."""
    job = endpoint.run({"simulate": {"stream": 4, "interval": 0.05}})
    assert [chunk["index"] for chunk in job.stream()] == [0, 1, 2, 3]


def test_cancel_a_queued_job(endpoint):
    """Job.cancel answers CANCELLED and the job stays cancelled."""
    job = runpod.Endpoint("cold").run({"prompt": "never runs"})
    assert job.cancel() == {"id": job.job_id, "status": "CANCELLED"}
    assert job.status() == "CANCELLED"


def test_health_and_purge_queue(endpoint):
    """Endpoint.health reports counters and workers; purge_queue removes the queued jobs."""
    cold = runpod.Endpoint("cold")
    for _ in range(2):
        cold.run({"prompt": "queued"})
    health = cold.health()
    assert health["jobs"]["inQueue"] == 2
    assert health["workers"]["idle"] == 0
    assert cold.purge_queue() == {"removed": 2, "status": "completed"}
    assert endpoint.health()["workers"]["idle"] == 2


def test_a_wrong_key_raises_the_clients_unauthorized_error(sim, endpoint):
    """A 401 surfaces as the client's own RuntimeError about the key."""
    sim.configure(api_key="another-key")
    with pytest.raises(RuntimeError, match="401 Unauthorized"):
        endpoint.health()


def test_its_retry_adapter_rides_out_a_429_burst(sim, endpoint):
    """The client's urllib3 retry on 429 (plain http only) gets through a short burst."""
    job = endpoint.run({"prompt": "x"})
    wait_for(lambda: job.status() == "COMPLETED", timeout=5)
    sim.configure(rate_limit_burst=1)
    assert endpoint.health()["jobs"]["completed"] == 1
    assert sim.stats()["responses"]["429"] == 1


def test_the_asyncio_client_runs_and_reads_health(sim, endpoint):
    """runpod.AsyncioEndpoint runs a job to its output and reads health over aiohttp."""

    async def scenario():
        async with ClientSession() as session:
            async_endpoint = runpod.AsyncioEndpoint("ep", session)
            job = await async_endpoint.run({"prompt": "async"})
            output = await job.output(timeout=10)
            health = await async_endpoint.health()
            return output, health

    output, health = asyncio.run(scenario())
    assert output == {"prompt": "async"}
    assert health["jobs"]["completed"] == 1
