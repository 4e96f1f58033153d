"""The official RunPod JavaScript SDK (runpod-sdk from npm, `baseUrl` at the live dashboard) works through the
proxy against the simulator: run, status, runSync, stream, cancel, health and purge, every job recorded."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from jobs.models import Job, StreamChunk
from tests.factories import make_endpoint

JS_DIR = Path(__file__).parent / "js"
SDK = JS_DIR / "node_modules" / "runpod-sdk"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the JavaScript SDK test needs it"),
    pytest.mark.skipif(not SDK.exists(), reason="runpod-sdk is not installed: run `make proxy-js` first"),
]


def test_the_javascript_sdk_works_through_the_proxy_and_every_job_is_recorded(
    transactional_db, live_server, sim, proxy_endpoint, operator_token
):
    """Each SDK call answers as RunPod would, the stream arrives whole and in order, and the jobs are recorded."""
    cold_id = f"cold-{uuid.uuid4().hex[:8]}"
    sim.add_endpoint(cold_id, min_workers=0, max_workers=0)
    cold = make_endpoint(name=cold_id, runpod_id=cold_id, base_url=sim.base_url, api_key="stored-rp-key")
    done = subprocess.run(
        ["node", "sdk_check.mjs", f"{live_server.url}/v2", operator_token, proxy_endpoint.runpod_id, cold_id],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])

    assert results["run"]["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert results["status"]["status"] == "COMPLETED"
    assert results["status"]["output"] == {"prompt": "from js"}
    assert results["runSync"]["output"] == {"sync": "js"}
    assert [chunk["index"] for chunk in results["chunks"]] == [0, 1, 2, 3]
    assert results["cancel"] == {"id": results["cancelledId"], "status": "CANCELLED"}
    assert results["coldHealth"]["jobs"]["inQueue"] == 2
    assert results["purge"] == {"removed": 2, "status": "completed"}
    assert results["health"]["workers"]["idle"] >= 1

    owner = Job.objects.get(runpod_id=results["run"]["id"]).submitted_by
    assert owner.username.startswith("op-")
    assert Job.objects.filter(submitted_by=owner).count() == 6
    assert Job.objects.get(runpod_id=results["run"]["id"]).output == {"prompt": "from js"}
    assert Job.objects.get(mode="runsync").output == {"sync": "js"}
    streamed = Job.objects.get(runpod_id=results["streamId"])
    assert list(StreamChunk.objects.filter(job=streamed).values_list("output", flat=True)) == results["chunks"]
    assert Job.objects.get(runpod_id=results["cancelledId"]).status == "CANCELLED"
    assert Job.objects.filter(endpoint=cold).count() == 3
