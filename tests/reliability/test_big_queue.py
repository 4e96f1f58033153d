"""An endpoint with RunPod's largest queue, 50,000 jobs, and its queue purged while the poller is working through
it: every job ends CANCELLED and archived once, the poller stays inside the rate limit, a submission refused
for a full queue waits and goes out after the purge, and the pages stay quick."""

import asyncio
import threading
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import runpod, services
from jobs.models import Job, JobStatus, StatusTransition
from jobs.services.polling import poll_round
from tests.factories import make_endpoint
from tests.utils import close_poller_connections, logged_in

from .figures import record
from .runs import wait_progressing
from .servers import SimulatorProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUEUE = 50_000
# RunPod's limits, and the endpoint's, times this: the run is compressed in time, not in rate-limit headroom.
RATE_SCALE = 5
PURGE_AFTER_POLLED = 5_000
PAGE_SECONDS = 2.0
# No worker ever takes a job, and no limit while the queue is filled (they are switched on for the polling).
SIM_OPTIONS = ("--latency-ms", "0", "--rate-limits", "off", "--endpoint", "big:min_workers=0,max_workers=0")


async def fill_queue(base_url, count) -> list[str]:
    """/run `count` jobs on the endpoint (no worker ever takes them), as other tools would; returns their ids."""
    http = runpod.make_async_http(max_connections=64)
    # Other tools filled this queue, not us: our own /run limit (1,000 per 10 s) would make that take 8 minutes.
    client = runpod.AsyncRunPodClient(
        "big", "rpa_BIG", base_url=base_url, http=http, max_retries=3, limiter=runpod.RateLimiter.unlimited()
    )
    semaphore = asyncio.Semaphore(64)

    async def one(n):
        async with semaphore:
            return (await client.run({"n": n})).id

    try:
        return await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        await http.aclose()


def track_all(endpoint, ids):
    now = timezone.now()
    fields = {"endpoint": endpoint, "status": JobStatus.IN_QUEUE, "seen_at": now, "submitted_at": now}
    Job.objects.bulk_create((Job(runpod_id=i, next_poll_at=now, input={}, **fields) for i in ids), batch_size=5_000)


class Beat(threading.Thread):
    """Poll rounds back to back in a thread of their own, as the beat's ticks would run them."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.endpoint, self.stopping, self.rounds = endpoint, threading.Event(), 0

    def run(self):
        try:
            while not self.stopping.is_set():
                poll_round([self.endpoint.pk], budget_seconds=2)
                self.rounds += 1
        finally:
            close_poller_connections()


def timed_get(client, url, **params):
    started = time.monotonic()
    response = client.get(url, params)
    assert response.status_code == 200, url
    return round(time.monotonic() - started, 3)


def test_a_full_queue_purged_mid_polling_ends_cancelled_and_archived(settings, operator):
    """50,000 queued jobs, a purge after the first 5,000 polls: all cancelled, archived once, inside the limits."""
    settings.POLL_BATCH_SIZE = 1_000
    with SimulatorProcess(*SIM_OPTIONS) as sim:
        started = time.monotonic()
        ids = asyncio.run(fill_queue(sim.base_url, QUEUE))
        endpoint = make_endpoint(
            name="big",
            runpod_id="big",
            base_url=sim.base_url,
            api_key="rpa_BIG",
            status_rate_per_10s=2_000 * RATE_SCALE,
            status_concurrency=400 * RATE_SCALE,
        )
        track_all(endpoint, ids)
        sim.configure(rate_limits=RATE_SCALE)
        filled_in = time.monotonic() - started

        extra = services.job_submit(endpoint=endpoint, input={"after": "purge"})
        with pytest.raises(services.SendLater):
            services.job_send(extra.pk)  # RunPod answers 429: the queue is full
        extra.refresh_from_db()
        assert extra.status == JobStatus.PENDING and extra.runpod_id is None

        beat = Beat(endpoint)
        beat.start()
        try:
            polled = Job.objects.filter(endpoint=endpoint, last_polled_at__isnull=False)
            wait_progressing(polled.count, PURGE_AFTER_POLLED, message="polling under way")
            client = logged_in(operator)
            purge = client.post(reverse("endpoint_purge", args=[endpoint.pk]), {"confirm": "big"})
            assert purge.status_code == 200 and purge.context["removed"] == QUEUE
            archived = Job.objects.filter(endpoint=endpoint, archived=True)
            wait_progressing(archived.count, QUEUE, message="every purged job archived")
        finally:
            beat.stopping.set()
            beat.join(30)
        services.job_send(extra.pk)
        stats = sim.stats()
    elapsed = time.monotonic() - started

    jobs = Job.objects.filter(endpoint=endpoint).exclude(pk=extra.pk)
    assert jobs.filter(status="CANCELLED", archived=True, expired=False).count() == QUEUE
    transitions = StatusTransition.objects.filter(job__endpoint=endpoint).exclude(job=extra)
    assert transitions.count() == QUEUE and transitions.filter(to_status="CANCELLED").count() == QUEUE
    extra.refresh_from_db()
    assert extra.runpod_id and extra.status == JobStatus.IN_QUEUE, "sent once the queue had room"
    limit = 2_000 * RATE_SCALE
    assert stats["max_poll_per_10s_any"] <= limit and stats["faults"].get("rate_limited", 0) == 0

    client = logged_in(operator)
    pages = {
        "overview": timed_get(client, reverse("overview")),
        "endpoint": timed_get(client, endpoint.get_absolute_url()),
        "jobs": timed_get(client, reverse("job_list")),
        "jobs_cancelled": timed_get(client, reverse("job_list"), status="CANCELLED", endpoint=endpoint.pk),
        "job": timed_get(client, jobs.last().get_absolute_url()),
    }
    record(
        "big_queue",
        queue=QUEUE,
        purged_after_polls=PURGE_AFTER_POLLED,
        removed_by_purge=QUEUE,
        jobs_cancelled_and_archived=QUEUE,
        results_lost=0,
        duplicate_transitions=transitions.count() - QUEUE,
        status_calls=stats["requests"].get("big", {}).get("status", 0),
        max_status_calls_per_10s=stats["max_poll_per_10s_any"],
        rate_limit_per_10s=limit,
        answered_429=stats["faults"].get("rate_limited", 0),
        poll_rounds=beat.rounds,
        fill_seconds=round(filled_in, 1),
        seconds=round(elapsed, 1),
        page_seconds=pages,
    )
    assert all(seconds < PAGE_SECONDS for seconds in pages.values()), pages
