"""A job's page, its live parts and its downloads render for a job in any state RunPod or we can put it in,
whether htmx asks for a part or someone opens (or reloads) the part's URL directly."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, StreamChunk
from tests.factories import make_endpoint, make_job
from tests.utils import logged_in

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
PARTS = ("input", "output", "progress", "error", "raw", "stream")


def job_zoo(endpoint) -> list[Job]:
    """One job per interesting state, with the fields that state brings."""
    now = timezone.now()
    ago = now - timedelta(minutes=3)
    final = {"finished_at": now, "archived": True, "next_poll_at": None}
    zoo = [
        make_job(endpoint, runpod_id=None, status="PENDING", submitted_at=None),
        make_job(endpoint, runpod_id=None, status="SUBMIT_FAILED", submit_error="HTTP 500", submitted_at=ago),
        make_job(endpoint, status="IN_QUEUE", next_poll_at=now),
        make_job(endpoint, status="IN_QUEUE", submitted_at=None, next_poll_at=now, tracked=True, input=None),
        make_job(endpoint, status="IN_PROGRESS", started_at=ago, progress={"step": 3}, next_poll_at=now),
        make_job(endpoint, status="IN_PROGRESS", started_at=None, next_poll_at=now),
        make_job(endpoint, status="COMPLETED", output={"text": "done"}, has_output=True, **final),
        make_job(endpoint, status="COMPLETED", completed_without_output=True, **final),
        make_job(endpoint, status="FAILED", error_raw='{"error_type": "OOM"}', error={"error_type": "OOM"}, **final),
        make_job(endpoint, status="FAILED", error_raw="plain text error", **final),
        make_job(endpoint, status="CANCELLED", **final),
        make_job(endpoint, status="TIMED_OUT", **final),
        make_job(endpoint, status="WARMING_UP", next_poll_at=now, last_raw={"status": "WARMING_UP"}),
        make_job(endpoint, status="UNKNOWN", next_poll_at=now, last_raw={}),
        make_job(endpoint, status="COMPLETED", expired=True, next_poll_at=None),
        make_job(endpoint, status="IN_QUEUE", not_found=True, tracked=True, next_poll_at=None),
    ]
    streaming = make_job(endpoint, status="IN_PROGRESS", streaming=True, stream_seq=3, next_poll_at=now)
    StreamChunk.objects.bulk_create([StreamChunk(job=streaming, seq=i, output={"i": i}) for i in range(3)])
    done_stream = make_job(endpoint, status="COMPLETED", streaming=True, stream_seq=0, **final)
    return [*zoo, streaming, done_stream]


@pytest.fixture
def zoo():
    return job_zoo(make_endpoint(name="zoo"))


def job_urls(job):
    urls = [reverse(name, args=[job.pk]) for name in ("job_detail", "job_live_hx", "job_stream_hx")]
    urls.append(reverse("job_stream_hx", args=[job.pk]) + "?after=1")
    return urls


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_job_pages_and_parts_render_in_every_state(viewer, zoo, htmx):
    """Every job page and live part answers 200 for every state, unknown ones included."""
    client = logged_in(viewer, raise_request_exception=False)
    failures = []
    for job in zoo:
        for url in job_urls(job):
            status = client.get(url, **(HX if htmx else {})).status_code
            if status != 200:
                failures.append((job.status, url, status))
    assert failures == []


def test_every_download_of_every_job_is_json(viewer, zoo):
    """Each part of each job downloads as JSON (null where there is nothing)."""
    client = logged_in(viewer, raise_request_exception=False)
    for job in zoo:
        for part in PARTS:
            response = client.get(reverse("job_json", args=[job.pk, part]))
            assert response.status_code == 200, (job.status, part)
            assert response["Content-Type"] == "application/json"


def test_lists_and_overview_render_with_every_state_present(viewer, zoo):
    """The overview, the job list (every status filter) and the audit page render with these jobs."""
    client = logged_in(viewer, raise_request_exception=False)
    assert client.get(reverse("overview")).status_code == 200
    assert client.get(zoo[0].endpoint.get_absolute_url()).status_code == 200
    for status in ["", "active", *{job.status for job in zoo}]:
        assert client.get(reverse("job_list"), {"status": status}).status_code == 200, status
    ids = ",".join(str(job.pk) for job in zoo)
    assert client.get(reverse("job_rows_hx"), {"ids": ids}, **HX).status_code == 200
