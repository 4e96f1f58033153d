"""Jobs we are told about: RunPod's webhook POSTs recorded, over real HTTP from the simulator."""

import httpx
import pytest

from jobs.models import Job, StatusTransition
from jobs.services.webhooks import webhook_path
from tests.factories import make_endpoint
from tests.utils import wait_for


def test_a_job_submitted_elsewhere_is_recorded_from_its_webhook(live_server, sim, sim_endpoint):
    """A script submits straight to RunPod naming our webhook; the result lands here without any poll."""
    hook = live_server.url + webhook_path(sim_endpoint)
    answer = httpx.post(
        f"{sim.base_url}/{sim_endpoint.runpod_id}/run",
        json={"input": {"prompt": "from a script"}, "webhook": hook},
        headers={"Authorization": "Bearer script-key"},
    ).json()
    job = wait_for(
        lambda: Job.objects.filter(endpoint=sim_endpoint, runpod_id=answer["id"], archived=True).first(),
        timeout=20,
        message="the webhook to be recorded",
    )
    assert job.tracked and job.status == "COMPLETED" and job.output == {"prompt": "from a script"}
    assert job.input == {"prompt": "from a script"}
    assert StatusTransition.objects.filter(job=job, source="webhook").count() == 1


def test_a_repeated_webhook_changes_nothing(client, endpoint):
    """RunPod retries webhooks: the same payload twice leaves one job and one transition."""
    payload = {"id": "abc", "status": "COMPLETED", "output": {"x": 1}}
    url = webhook_path(endpoint)
    assert client.post(url, payload, content_type="application/json").status_code == 200
    assert client.post(url, payload, content_type="application/json").status_code == 200
    assert Job.objects.filter(runpod_id="abc").count() == 1
    assert StatusTransition.objects.filter(job__runpod_id="abc").count() == 1


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"status": "COMPLETED"}', '{"id": "' + "x" * 300 + '"}'])
def test_a_bad_webhook_payload_is_refused_with_400(client, endpoint, body):
    """Anything that is not a status object with a sane id is a 400, and nothing is stored."""
    response = client.post(webhook_path(endpoint), body, content_type="application/json")
    assert response.status_code == 400 and not Job.objects.exists()


def test_a_wrong_token_is_a_404(client, db):
    """Without the endpoint's secret token the webhook does not exist."""
    endpoint = make_endpoint()
    url = webhook_path(endpoint).replace(webhook_path(endpoint).split("/")[-2], "forged")
    response = client.post(url, {"id": "a", "status": "COMPLETED"}, content_type="application/json")
    assert response.status_code == 404 and not Job.objects.exists()
