"""docs/api_example.py, run as a person would run it: a token, a live dashboard, a real worker and the simulator."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.models import Job
from tests.api.conftest import token_client

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "api_example.py"


def test_the_example_script_submits_waits_and_prints_the_output(live_server, operator, sim_endpoint, celery_worker):
    """The script's only inputs are the URL, a token, an endpoint id and an input; it prints the job's output."""
    raw = token_client(operator).raw_token
    env = {"DASHBOARD_URL": live_server.url, "DASHBOARD_TOKEN": raw, "WAIT_SECONDS": "90", "PATH": "/usr/bin:/bin"}
    job_input = {"prompt": "lighthouse", "simulate": {"seconds": 0.2}}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(sim_endpoint.pk), json.dumps(job_input)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    job = Job.objects.get()
    assert job.status == "COMPLETED" and job.submitted_by == operator
    assert json.loads(result.stdout) == job.output and job.output is not None


def test_the_example_script_reports_a_refusal(live_server, viewer, sim_endpoint):
    """A viewer's token is refused, and the script says why and exits non-zero, with nothing submitted."""
    raw = token_client(viewer).raw_token
    env = {"DASHBOARD_URL": live_server.url, "DASHBOARD_TOKEN": raw, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(sim_endpoint.pk), "{}"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "Refused (403)" in result.stderr
    assert not Job.objects.exists()
