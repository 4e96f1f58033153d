"""One RunPod job id check for every way an id comes in: tracking refuses exactly what the webhook refuses."""

import pytest

from jobs import services
from jobs.models import AuditEntry, Job
from jobs.services.ids import runpod_id_checked
from jobs.services.webhooks import webhook_path

pytestmark = pytest.mark.django_db

BAD_IDS = ["", ".", "..", "a b", "nul\x00id", "bell\x07", "tab\tid", "x" * 201, "line\nbreak", "in\u2028side"]


@pytest.mark.parametrize("runpod_id", BAD_IDS)
def test_an_id_tracking_refuses_is_refused_by_the_webhook_too(client, endpoint, runpod_id):
    """Track and webhook share runpod_id_checked: the webhook answers 400 with its sentence and stores nothing."""
    with pytest.raises(services.InputError):
        services.job_track(endpoint=endpoint, runpod_id=runpod_id)
    payload = {"id": runpod_id, "status": "COMPLETED", "output": {"x": 1}}
    response = client.post(webhook_path(endpoint), payload, content_type="application/json")
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_an_ordinary_runpod_id_passes_both():
    """The control: a RunPod-looking id (with dashes and a region suffix) is accepted as it is."""
    assert runpod_id_checked(" 8a6b2c1d-e3f4-4a5b-9c8d-7e6f5a4b3c2d-u1 ") == "8a6b2c1d-e3f4-4a5b-9c8d-7e6f5a4b3c2d-u1"


def test_jobs_recorded_from_webhooks_are_audited_once(client, endpoint):
    """A job new to us and a later change of its state each leave an entry; RunPod's repeats add none."""
    url = webhook_path(endpoint)
    client.post(url, {"id": "hooked-1", "status": "IN_PROGRESS"}, content_type="application/json")
    for _ in range(2):
        client.post(url, {"id": "hooked-1", "status": "COMPLETED", "output": 1}, content_type="application/json")
    messages = list(AuditEntry.objects.filter(action="webhook").values_list("message", flat=True))
    assert sorted(messages) == [
        "RunPod reported hooked-1 COMPLETED",
        "RunPod reported hooked-1 IN_PROGRESS (a job new to us)",
    ]
