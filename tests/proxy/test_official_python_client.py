"""The official `runpod` package, with RUNPOD_ENDPOINT_BASE_URL at the live dashboard, works through the proxy
against the simulator, and every job it submits is recorded here as submitted by the token's owner."""

import uuid

import httpx
import pytest
import runpod
from runpod.endpoint.runner import Job as RunPodJob

from jobs.models import Job, StreamChunk
from jobs.services.polling import poll_round
from tests.factories import make_endpoint
from tests.utils import wait_for


@pytest.fixture
def official(transactional_db, live_server, proxy_endpoint, operator_token, monkeypatch):
    """runpod.Endpoint for the proxy endpoint, talking to the live dashboard as RUNPOD_ENDPOINT_BASE_URL would."""
    base = f"{live_server.url}/v2"
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", base)
    # The package reads the variable once at import; its clients read these module attributes when created.
    monkeypatch.setattr(runpod, "endpoint_url_base", base)
    monkeypatch.setattr(runpod, "api_key", operator_token)
    return runpod.Endpoint(proxy_endpoint.runpod_id)


@pytest.fixture
def cold_endpoint(transactional_db, sim):
    """An endpoint with no workers, so its jobs stay queued (for cancel and purge)."""
    endpoint_id = f"cold-{uuid.uuid4().hex[:8]}"
    sim.add_endpoint(endpoint_id, min_workers=0, max_workers=0)
    return make_endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key="stored-rp-key")


def test_run_run_sync_stream_cancel_health_and_purge_work_and_every_job_is_recorded(
    official, proxy_endpoint, cold_endpoint
):
    """One live server for the whole flow (each live-server test costs a database flush):

    - Endpoint.run, Job.status and Job.output work; the job is recorded with input, output and submitter.
    - Endpoint.run_sync returns the output, and the runsync job is archived here with it.
    - Job.stream yields each chunk once, in order; the job's stored chunks are the same, and its output follows.
    - Job.cancel answers CANCELLED (recorded here), health reads the queue, purge_queue removes the rest.
    """
    job = official.run({"prompt": "a lighthouse"})
    assert job.output(timeout=10) == {"prompt": "a lighthouse"}
    assert job.status() == "COMPLETED"
    record = Job.objects.get(runpod_id=job.job_id)
    assert record.input == {"prompt": "a lighthouse"}
    assert record.output == {"prompt": "a lighthouse"}
    assert record.submitted_by.username.startswith("op-")
    assert record.auditentry_set.filter(action="submit", user=record.submitted_by).exists()

    assert official.run_sync({"n": 3}, timeout=20) == {"n": 3}
    record = Job.objects.get(mode="runsync")
    assert record.archived
    assert record.output == {"n": 3}

    streamed = official.run({"simulate": {"stream": 4, "interval": 0.05}})
    seen = list(streamed.stream())
    assert [chunk["index"] for chunk in seen] == [0, 1, 2, 3]
    record = Job.objects.get(runpod_id=streamed.job_id)
    assert list(StreamChunk.objects.filter(job=record).values_list("output", flat=True)) == seen

    def archived():
        poll_round([proxy_endpoint.pk], budget_seconds=0.5)
        return Job.objects.get(pk=record.pk).archived

    wait_for(archived, timeout=10, interval=0.05, message="the poller to fetch the final output")
    assert Job.objects.get(pk=record.pk).output == seen

    cold = runpod.Endpoint(cold_endpoint.runpod_id)
    first = cold.run({"prompt": "never runs"})
    for _ in range(2):
        cold.run({"prompt": "queued"})
    assert first.cancel() == {"id": first.job_id, "status": "CANCELLED"}
    assert Job.objects.get(runpod_id=first.job_id).status == "CANCELLED"
    assert cold.health()["jobs"]["inQueue"] == 2
    assert cold.purge_queue() == {"removed": 2, "status": "completed"}
    assert official.health()["workers"]["idle"] >= 1
    assert Job.objects.filter(endpoint=cold_endpoint).count() == 3


def test_status_after_runpod_forgot_the_job_is_the_stored_completed_object(official, proxy_endpoint, sim):
    """Once the simulator's retention has passed it answers 404; the proxy answers the stored COMPLETED object with
    its output."""
    job = official.run({"keep": "me"})
    assert job.output(timeout=10) == {"keep": "me"}
    # The client has read COMPLETED through the proxy: now RunPod's 30 minutes of retention pass in 0.05 s (the
    # simulator's clock only speeds up from here, so nothing is forgotten before the client read it).
    sim.configure(time_scale=36_000)
    direct = f"{sim.base_url}/{proxy_endpoint.runpod_id}/status/{job.job_id}"
    wait_for(
        lambda: httpx.get(direct, headers={"Authorization": "Bearer any"}, timeout=5).status_code == 404,
        timeout=30,
        interval=0.05,
        message="the simulator to forget the job",
    )
    late = RunPodJob(proxy_endpoint.runpod_id, job.job_id, official.rp_client)
    assert late.status() == "COMPLETED"
    assert late.output() == {"keep": "me"}
