"""A job's page: status, timeline, output and media, errors, retention, live parts, downloads, queries."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import StatusTransition, StreamChunk
from tests.factories import make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


def page(client, job):
    response = client.get(reverse("job_detail", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


def final_job(**fields):
    now = timezone.now()
    defaults = {
        "status": "COMPLETED",
        "finished_at": now - timedelta(minutes=1),
        "archived": True,
        "archived_at": now - timedelta(minutes=1),
        "expires_at": now + timedelta(minutes=29),
        "next_poll_at": None,
    }
    return make_job(**{**defaults, **fields})


def test_completed_job_shows_output_images_and_links(as_viewer, settings):
    """With remote images on, image URLs and inline images become <img>, other http(s) URLs links; JSON too."""
    settings.OUTPUT_REMOTE_IMAGES = True
    png = "iVBORw0KGgo" + "A" * 100
    job = final_job(
        has_output=True,
        output={"image": "https://cdn.example.com/out/1.png", "page": "https://example.com/r", "raw": png},
    )
    html = page(as_viewer, job)
    assert '<img src="https://cdn.example.com/out/1.png"' in html
    assert f'<img src="data:image/png;base64,{png}"' in html
    assert '<a href="https://example.com/r" target="_blank" rel="noopener noreferrer nofollow">' in html
    assert 'class="json-tree"' in html


def test_unsafe_urls_in_output_are_never_linked(as_viewer):
    """javascript:, data:text/html and SVG data URLs stay plain escaped text."""
    job = final_job(
        has_output=True,
        output={
            "a": "javascript:alert(1)",
            "b": "data:text/html;base64,PHNjcmlwdD4=",
            "c": "data:image/svg+xml;base64,PHN2Zz4=",
            "d": "<img src=x onerror=alert(1)>",
        },
    )
    html = page(as_viewer, job)
    assert 'href="javascript:' not in html and 'src="javascript:' not in html
    assert 'src="data:text/html' not in html and 'src="data:image/svg' not in html
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_failed_job_error_is_split_into_type_message_and_traceback(as_viewer):
    """RunPod's JSON error shows its type, message and traceback separately, escaped."""
    error = {
        "error_type": "<class 'RuntimeError'>",
        "error_message": "CUDA <out> of memory",
        "error_traceback": 'Traceback (most recent call last):\n  File "handler.py", line 3',
        "hostname": "worker-1",
    }
    job = final_job(status="FAILED", error=error, error_raw=json.dumps(error))
    html = page(as_viewer, job)
    assert '<span class="error-type mono">&lt;class &#x27;RuntimeError&#x27;&gt;</span>' in html
    assert '<span class="error-message">CUDA &lt;out&gt; of memory</span>' in html
    assert "<summary>Traceback</summary><pre>Traceback (most recent call last):" in html
    assert "hostname" in html and "worker-1" in html


def test_failed_job_with_a_plain_error_shows_it_raw(as_viewer):
    """An error string that is not JSON is shown as it came."""
    job = final_job(status="FAILED", error=None, error_raw="handler crashed <hard>")
    assert "handler crashed &lt;hard&gt;" in page(as_viewer, job)


def test_completed_without_output_is_said_plainly(as_viewer):
    """The known trap: COMPLETED with no output gets its own explanation."""
    job = final_job(completed_without_output=True, has_output=False)
    assert "COMPLETED but sent no output" in page(as_viewer, job)


def test_retention_countdown_then_archived_here(as_viewer):
    """Within RunPod's retention a countdown shows; after it, the page says the archive is here."""
    soon = final_job(expires_at=timezone.now() + timedelta(minutes=12, seconds=30))
    html = page(as_viewer, soon)
    assert "RunPod drops this result in" in html and "data-countdown=" in html
    assert ">12:2" in html or ">12:3" in html
    gone = final_job(expires_at=timezone.now() - timedelta(minutes=1))
    assert "RunPod has dropped its copy; it is archived here." in page(as_viewer, gone)


def test_expired_and_unknown_jobs_say_so(as_viewer):
    """A job RunPod dropped before we archived it, and an id RunPod never knew, are told apart."""
    expired = make_job(status="IN_PROGRESS", expired=True, next_poll_at=None)
    assert "RunPod dropped this job before it could be archived." in page(as_viewer, expired)
    unknown = make_job(status="IN_QUEUE", not_found=True, next_poll_at=None)
    assert "RunPod never knew this job id." in page(as_viewer, unknown)


def test_running_job_polls_and_settled_job_does_not(as_viewer):
    """Only a job that can still change carries a polling trigger."""
    running = make_job(status="IN_PROGRESS", next_poll_at=timezone.now())
    html = as_viewer.get(reverse("job_live_hx", args=[running.pk]), **HX).content.decode()
    assert f'hx-get="/jobs/{running.pk}/hx/live/"' in html and "data-live" in html and "every 2s," in html
    settled = final_job()
    html = as_viewer.get(reverse("job_live_hx", args=[settled.pk]), **HX).content.decode()
    assert "hx-trigger" not in html.split('id="timeline"')[0]
    assert "every 2s" not in html


def test_final_job_still_being_archived_keeps_polling(as_viewer):
    """A final job whose last status object is not fetched yet keeps refreshing until it is."""
    job = make_job(status="COMPLETED", next_poll_at=timezone.now(), archived=False)
    html = as_viewer.get(reverse("job_live_hx", args=[job.pk]), **HX).content.decode()
    assert "data-live" in html and "every 2s," in html


def test_timeline_lists_every_transition_with_times(as_viewer):
    """Each status change appears in order with its source and the time since the previous event."""
    job = final_job()
    start = timezone.now() - timedelta(minutes=2)
    for n, (old, new) in enumerate(
        [("PENDING", "IN_QUEUE"), ("IN_QUEUE", "IN_PROGRESS"), ("IN_PROGRESS", "COMPLETED")]
    ):
        StatusTransition.objects.create(job=job, from_status=old, to_status=new, at=start + timedelta(seconds=n * 3))
    html = page(as_viewer, job)
    timeline = html.split('id="timeline"')[1]
    assert timeline.index("In queue") < timeline.index("In progress") < timeline.index("Completed")
    assert "+3.0 s" in timeline


def test_live_partial_updates_the_timeline_out_of_band(as_viewer):
    """The live refresh also replaces the timeline, which sits lower on the page."""
    job = make_job(status="IN_PROGRESS", next_poll_at=timezone.now())
    html = as_viewer.get(reverse("job_live_hx", args=[job.pk]), **HX).content.decode()
    assert '<section class="panel" id="timeline" hx-swap-oob="true">' in html


def test_stream_partial_sends_only_newer_chunks_and_appends_them(as_viewer):
    """?after=N returns chunks N+1.. for appending, and the poller asks for the next ones."""
    job = make_job(status="IN_PROGRESS", streaming=True, next_poll_at=timezone.now(), stream_seq=4)
    for seq in range(4):
        StreamChunk.objects.create(job=job, seq=seq, output=f"word{seq} <b>")
    html = as_viewer.get(reverse("job_stream_hx", args=[job.pk]), {"after": 1}, **HX).content.decode()
    assert 'hx-swap-oob="beforeend:#stream-chunks"' in html
    assert "word2 &lt;b&gt;" in html and "word3" in html and "word1" not in html
    assert f'hx-get="/jobs/{job.pk}/hx/stream/?after=3"' in html and "data-live" in html and "every 1s," in html


def test_stream_of_a_finished_job_is_kept_and_stops_polling(as_viewer):
    """After the job ends, its chunks are all on the page and nothing polls for more."""
    job = final_job(streaming=True, stream_seq=3)
    for seq in range(3):
        StreamChunk.objects.create(job=job, seq=seq, output={"token": seq})
    html = page(as_viewer, job)
    assert html.count('<li data-seq="') == 3
    assert 'id="stream-poller" hidden></div>' in html


def test_stream_bad_after_parameter_starts_from_the_beginning(as_viewer):
    """A malformed ?after is read as 'from the start' rather than an error."""
    job = make_job(status="IN_PROGRESS", streaming=True, stream_seq=1)
    StreamChunk.objects.create(job=job, seq=0, output="first")
    html = as_viewer.get(reverse("job_stream_hx", args=[job.pk]), {"after": "x"}, **HX).content.decode()
    assert "first" in html


@pytest.mark.parametrize("part", ["input", "output", "error", "raw", "progress"])
def test_json_parts_download_as_attachments(as_viewer, part):
    """Each part downloads as application/json with a file name."""
    job = final_job(has_output=True, output={"x": 1}, error={"error_type": "E"}, last_raw={"id": "r"}, progress=[1])
    response = as_viewer.get(reverse("job_json", args=[job.pk, part]))
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="{job.runpod_id}-{part}.json"'
    json.loads(response.content)


def test_stream_downloads_as_a_json_array(as_viewer):
    """The stream download is every stored chunk in order."""
    job = final_job(streaming=True)
    for seq in (1, 0, 2):
        StreamChunk.objects.create(job=job, seq=seq, output={"n": seq})
    response = as_viewer.get(reverse("job_json", args=[job.pk, "stream"]))
    assert json.loads(b"".join(response.streaming_content)) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_unknown_part_or_job_is_404(as_viewer):
    """Only the known parts of existing jobs can be downloaded."""
    job = final_job()
    assert as_viewer.get(reverse("job_json", args=[job.pk, "s3_config"])).status_code == 404
    assert as_viewer.get(reverse("job_detail", args=[999999])).status_code == 404


def test_s3_config_is_never_shown(as_viewer):
    """The job's S3 credentials never reach the page."""
    job = final_job(s3_config=json.dumps({"accessSecret": "TOPSECRET"}))
    assert "TOPSECRET" not in page(as_viewer, job)


def test_large_output_is_shown_in_part_with_the_download_for_the_rest(as_viewer):
    """An output too big for the tree is shown as text, cut short, and still downloadable."""
    job = final_job(has_output=True, output={"rows": [{"i": i, "text": "x" * 100} for i in range(4000)]})
    html = page(as_viewer, job)
    assert 'class="json-text"' in html and "Shown in part" in html


def test_job_page_queries_do_not_grow_with_history(as_viewer):
    """Many transitions and chunks take the same number of queries as a few."""
    job = final_job(streaming=True)

    def add(n):
        for i in range(n):
            StatusTransition.objects.create(job=job, from_status="A", to_status="B", source="poll")
            StreamChunk.objects.create(job=job, seq=job.chunks.count(), output=i)

    add(2)
    with CaptureQueriesContext(connection) as few:
        page(as_viewer, job)
    add(40)
    with CaptureQueriesContext(connection) as many:
        page(as_viewer, job)
    assert len(many) == len(few)
