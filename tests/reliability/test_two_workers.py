"""Two workers, each with its own beat, and extra ticks fired on top: the ticks overlap all the time, yet no job is
polled twice in one cycle (no two requests for a job at once, none sooner than its interval) and no stream chunk
is stored twice."""

import threading
import uuid
from collections import defaultdict
from itertools import pairwise

import pytest

from jobs.tasks import poll_tick
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint

from .figures import record
from .runs import books, bulk_submit, job_mix, progress_report, wait_settled
from .servers import RecordingSimulator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

INTERVAL = 1.0  # the endpoints' poll interval for queued and running jobs alike
TOLERANCE = 0.05


def by_job(entries):
    requests = defaultdict(list)
    for entry in entries:
        if entry.operation in ("status", "stream") and entry.job_id:
            requests[entry.job_id].append(entry)
    return {job_id: sorted(found, key=lambda e: e.start) for job_id, found in requests.items()}


def overlaps(requests) -> list:
    """Pairs of requests for one job that were open at the same time."""
    return [(a, b) for a, b in pairwise(requests) if b.start < a.end]


def early_polls(requests) -> list:
    """/status calls sooner after the previous answer than the job's interval (a second poll in one cycle)."""
    return [(a, b) for a, b in pairwise(statuses(requests)) if b.start - a.end < INTERVAL - TOLERANCE]


def statuses(requests) -> list:
    return [r for r in requests if r.operation == "status"]


def accepted_sends(entries) -> list:
    return [entry for entry in entries if entry.operation in ("run", "runsync") and entry.status == 200]


class ExtraTicks(threading.Thread):
    """Fires poll_tick every 0.3 s on top of the two beats, so ticks overlap whatever the beats' phase."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.fired = 0

    def run(self):
        while not self.stopping.wait(0.3):
            poll_tick.delay()
            self.fired += 1


def test_two_workers_and_overlapping_ticks_never_poll_a_job_twice_in_a_cycle():
    """Every request for a job comes after the previous answer and at least one interval later; chunks stored once."""
    with RecordingSimulator(seed=31, time_scale=2, endpoints=[]) as sim:
        endpoints = []
        for _ in range(2):
            name = f"pair-{uuid.uuid4().hex[:6]}"
            sim.add_endpoint(name, min_workers=6, max_workers=10, cold_start=0, job_seconds=[0.5, 2.5])
            endpoints.append(
                make_endpoint(
                    name=name,
                    runpod_id=name,
                    base_url=sim.base_url,
                    api_key="rpa_PAIR",
                    poll_running_seconds=INTERVAL,
                    poll_queued_seconds=INTERVAL,
                    poll_queued_max_seconds=INTERVAL,
                )
            )
        first = CeleryWorker(concurrency=2).start()
        second = CeleryWorker(concurrency=2, queue=first.queue).start()
        first.wait_ready()
        second.wait_ready()
        ticks = ExtraTicks()
        kinds = {}
        try:
            ticks.start()
            for n, endpoint in enumerate(endpoints):
                kinds[endpoint.pk] = job_mix(200, runsync=10, streams=15, seed=n)
                bulk_submit(endpoint, kinds[endpoint.pk])
            for endpoint in endpoints:
                try:
                    wait_settled(endpoint)
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{progress_report(endpoint, sim)}") from exc
        finally:
            ticks.stopping.set()
            first.stop()
            second.stop()
        stats = sim.stats()
        requests = by_job(sim.log.entries)
        created = {e.runpod_id: len(accepted_sends(sim.log.for_endpoint(e.runpod_id))) for e in endpoints}

    both_polled = all("polled" in worker.output() for worker in (first, second))
    found_overlaps = [pair for found in requests.values() for pair in overlaps(found)]
    found_early = [pair for found in requests.values() for pair in early_polls(found)]
    results = [books(e, kinds[e.pk], stats, created=created[e.runpod_id]) for e in endpoints]
    gaps = [b.start - a.end for found in requests.values() for a, b in pairwise(statuses(found))]
    record(
        "two_workers",
        workers=2,
        beats=2,
        extra_ticks_fired=ticks.fired,
        jobs=sum(len(k) for k in kinds.values()),
        polled_jobs=len(requests),
        status_and_stream_requests=sum(len(found) for found in requests.values()),
        requests_open_at_once_for_one_job=len(found_overlaps),
        polls_sooner_than_the_interval=len(found_early),
        shortest_gap_between_status_polls_seconds=round(min(gaps), 3),
        both_workers_polled=both_polled,
        results_lost=sum(r["results_lost"] for r in results),
        duplicate_chunks=sum(r["duplicate_chunks"] for r in results),
        chunks_stored=sum(r["chunks_stored"] for r in results),
        chunks_produced=stats["chunks_produced"],
        duplicate_transitions=sum(r["duplicate_transitions"] for r in results),
    )
    assert found_overlaps == [], found_overlaps[:3]
    assert found_early == [], found_early[:3]
    assert [r["problems"] for r in results] == [[], []]
    assert both_polled, "both workers took part"
