"""A real Prometheus (Debian's package, installed by scripts/ensure-prometheus.sh) scrapes /metrics of a live test
server; PromQL through its HTTP API agrees with the overview page, and promtool accepts the output."""

import shutil
import subprocess
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from dashboard.views.overview import overview_totals
from jobs import selectors
from jobs.models import HealthSnapshot, StatusTransition
from scripts.ports import free_port
from tests.factories import make_endpoint, make_job
from tests.utils import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus missing (run scripts/ensure-prometheus.sh)"),
]
TOKEN = "prometheus-test-token"


@pytest.fixture
def metrics_server(live_server, settings):
    """The live test server with /metrics open to TOKEN, and a few endpoints with queues and finished jobs."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    now = timezone.now()
    for n, (queued, completed) in enumerate([(7, 3), (2, 1), (0, 0)]):
        endpoint = make_endpoint(name=f"prom-{n}")
        HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now, jobs_in_queue=queued, workers_running=1)
        for _ in range(completed):
            job = make_job(endpoint=endpoint, status="COMPLETED", finished_at=now - timedelta(minutes=2), delay_ms=900)
            StatusTransition.objects.create(job=job, from_status="IN_PROGRESS", to_status="COMPLETED", source="poll")
        make_job(endpoint=endpoint, status="FAILED", finished_at=now - timedelta(minutes=3))
    return live_server


@pytest.fixture
def prometheus(metrics_server, tmp_path):
    """A Prometheus server scraping the live server every 3 s, with its own config and data folder."""
    host_port = metrics_server.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        # A scrape of a loaded CI machine can take over a second; the timeout must not turn that into up == 0.
        "global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\n"
        "scrape_configs:\n  - job_name: dashboard\n    metrics_path: /metrics\n"
        f"    authorization:\n      type: Bearer\n      credentials: {TOKEN}\n"
        f"    static_configs:\n      - targets: ['{host_port}']\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def promql(base, query):
    """The value of a PromQL query with a single result, or None while Prometheus has no data for it (or is still
    starting: it answers 503 "Service Unavailable" in plain text until its storage is ready, seen in a CI dry run)."""
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code == 503:
        return None
    body = response.json()
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def test_promql_matches_the_overview_queue_depth_and_completed_count(prometheus):
    """sum(runpod_queue_depth) and the last hour's completed jobs equal the overview page's totals."""
    totals = overview_totals(selectors.overview_endpoints(timezone.now()))
    assert (totals.queued, totals.completed) == (9, 4)
    assert wait_for(lambda: promql(prometheus, 'up{job="dashboard"}') == 1.0, timeout=120, message="a good scrape")
    queued = wait_for(lambda: promql(prometheus, "sum(runpod_queue_depth)"), timeout=30, message="queue depth")
    completed = promql(prometheus, 'sum(runpod_jobs_finished_last_hour{status="completed"})')
    assert (queued, completed) == (totals.queued, totals.completed)
    assert promql(prometheus, 'sum(runpod_jobs_finished_total{status="COMPLETED"})') == 4
    assert promql(prometheus, "sum(runpod_job_delay_seconds_count)") == 4


def test_promtool_accepts_the_metrics(metrics_server):
    """promtool check metrics finds no problem in what /metrics serves in the text format (promtool's own)."""
    if not shutil.which("promtool"):
        pytest.skip("promtool missing")
    text = httpx.get(f"{metrics_server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "runpod_queue_depth" in text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
