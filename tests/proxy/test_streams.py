"""Streams through the proxy: every chunk reaches the caller once, in order, and is stored as it passes; the
poller keeps off /stream while a caller reads it and takes over when the caller goes away."""

import json
import re
from datetime import timedelta

from django.utils import timezone

from jobs.models import Job, StreamChunk
from jobs.services.polling import jobs_claim_due, poll_round
from tests.utils import wait_for


def submit(client, endpoint, job_input):
    body = json.dumps({"input": job_input})
    response = client.post(f"/v2/{endpoint.runpod_id}/run", data=body, content_type="application/json")
    return response.json()["id"]


def read_stream(client, endpoint, job_id):
    """Call /stream until a final status with nothing more, as runpod-python's Job.stream does; all chunks read."""
    chunks = []
    for _ in range(200):
        answer = client.get(f"/v2/{endpoint.runpod_id}/stream/{job_id}").json()
        chunks += [item["output"] for item in answer["stream"]]
        if answer["status"] == "COMPLETED" and not answer["stream"]:
            return chunks
    raise AssertionError("the stream did not end")


def test_a_streamed_job_gives_every_chunk_once_in_order_and_stores_the_same(operator_client, proxy_endpoint, as_viewer):
    """The caller gets chunks 0..5 once each, in order; the job's stored chunks and its page show the same."""
    job_id = submit(operator_client, proxy_endpoint, {"simulate": {"stream": 6, "interval": 0.05}})
    chunks = read_stream(operator_client, proxy_endpoint, job_id)
    assert [c["index"] for c in chunks] == [0, 1, 2, 3, 4, 5]
    job = Job.objects.get(runpod_id=job_id)
    stored = list(StreamChunk.objects.filter(job=job).order_by("seq").values_list("output", flat=True))
    assert stored == chunks
    assert job.streaming
    assert job.stream_reader_until is None
    page = as_viewer.get(job.get_absolute_url()).content.decode()
    rows = re.findall(r'<li data-seq="(\d+)"', page)
    assert rows == ["0", "1", "2", "3", "4", "5"]


def test_the_poller_leaves_a_read_stream_alone_and_takes_over_when_the_reader_goes(
    transactional_db, operator_client, proxy_endpoint
):
    """While a caller holds the stream the poller does not claim the job; after the hold it drains the rest."""
    job_id = submit(operator_client, proxy_endpoint, {"simulate": {"stream": 4, "interval": 0.3}})
    operator_client.get(f"/v2/{proxy_endpoint.runpod_id}/stream/{job_id}")
    job = Job.objects.get(runpod_id=job_id)
    assert job.stream_reader_until > timezone.now()
    assert job.pk not in [j.pk for j in jobs_claim_due(proxy_endpoint, limit=10, lease_seconds=5)]
    # The caller went away: its hold runs out and the poller follows the job to the end.
    Job.objects.filter(pk=job.pk).update(stream_reader_until=timezone.now() - timedelta(seconds=1))

    def finished():
        poll_round([proxy_endpoint.pk], budget_seconds=1)
        return Job.objects.get(pk=job.pk).archived

    wait_for(finished, timeout=15, interval=0.05, message="the poller to archive the job")
    job.refresh_from_db()
    stored = list(StreamChunk.objects.filter(job=job).order_by("seq").values_list("output", flat=True))
    assert [c["index"] for c in stored] == [0, 1, 2, 3]
    assert job.output is not None


def test_chunks_the_poller_drained_before_the_caller_came_still_reach_the_caller(
    transactional_db, operator_client, proxy_endpoint
):
    """A caller that starts reading after the poller drained some chunks gets those first, then the rest."""
    job_id = submit(operator_client, proxy_endpoint, {"simulate": {"stream": 5, "interval": 0.1}})
    job = Job.objects.get(runpod_id=job_id)
    # Due now: the poller would otherwise first look at a job just submitted a few seconds later.
    Job.objects.filter(pk=job.pk).update(streaming=True, next_poll_at=timezone.now())
    wait_for(
        lambda: (
            poll_round([proxy_endpoint.pk], budget_seconds=0.5) is not None
            and StreamChunk.objects.filter(job=job).count() >= 2
        ),
        timeout=10,
        interval=0.05,
        message="the poller to drain two chunks",
    )
    chunks = read_stream(operator_client, proxy_endpoint, job_id)
    assert [c["index"] for c in chunks] == [0, 1, 2, 3, 4]


def test_cancel_retry_and_purge_through_the_proxy_are_recorded_and_audited(operator_client, proxy_endpoint, sim):
    """Cancel answers RunPod's object and the job is CANCELLED here; purge answers RunPod's count; both audited."""
    sim.add_endpoint(proxy_endpoint.runpod_id, min_workers=0, max_workers=0)
    first = submit(operator_client, proxy_endpoint, {"q": 1})
    submit(operator_client, proxy_endpoint, {"q": 2})
    submit(operator_client, proxy_endpoint, {"q": 3})
    cancelled = operator_client.post(f"/v2/{proxy_endpoint.runpod_id}/cancel/{first}").json()
    assert cancelled == {"id": first, "status": "CANCELLED"}
    assert Job.objects.get(runpod_id=first).status == "CANCELLED"
    purged = operator_client.post(f"/v2/{proxy_endpoint.runpod_id}/purge-queue").json()
    assert purged == {"removed": 2, "status": "completed"}
    retry = operator_client.post(f"/v2/{proxy_endpoint.runpod_id}/retry/{first}")
    assert retry.status_code == 400  # RunPod retries only FAILED or TIMED_OUT jobs
    actions = set(Job.objects.get(runpod_id=first).auditentry_set.values_list("action", flat=True))
    assert actions == {"submit", "cancel", "retry"}
