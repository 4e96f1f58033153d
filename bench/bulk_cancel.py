"""Bulk cancel: 1,000 queued jobs cancelled through the simulator with RunPod's documented limits.

/cancel allows 100 requests per sliding 10 s per endpoint, so 1,000 cancels cannot finish in less than 90 s (the
first 100 at once, the last 100 nine windows later): that is the floor the time is compared with. The batch holds
itself to RATE_LIMIT_SHARE of the limit (90 per 10 s by default, leaving room for people's own cancels), whose floor
is 110 s; both ratios are reported. Each run creates the jobs at the simulator, records them here as queued, starts
the batch through `services.bulk_start` and works it with `services.bulk_run`, the service the Celery task calls
(handing over every BULK_TASK_SECONDS as the task does), in this process. It checks that RunPod answered no 429,
that every job is CANCELLED once, and the most cancels sent in any 10 s.

    .venv/bin/python bench/bulk_cancel.py                 # 3 runs of 1,000 jobs on PostgreSQL
    .venv/bin/python bench/bulk_cancel.py --db sqlite --runs 1 --jobs 300
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SIM_KEY,
    SimulatorProcess,
    django_setup,
    log,
    median,
    new_result,
    pg_create,
    postgres_version,
    sqlite_url,
    submit_many,
    write_result,
)

NAME = "bulk_cancel"
LIMIT_PER_10S = 100  # runpod-api.md, Rate limits: /cancel
WINDOW = 10.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="the simulator's added round trip")
    parser.add_argument("--json", help="write the result here instead of var/bench/bulk_cancel.json")
    return parser.parse_args(argv)


def floor_seconds(jobs: int, per_window: int) -> float:
    """The least time `jobs` calls take under `per_window` per sliding 10 s: the first window's calls go at once."""
    return (math.ceil(jobs / per_window) - 1) * WINDOW


def queued_jobs(sim, endpoint, jobs: int) -> list[int]:
    from jobs.models import Job

    bodies = [{"input": {"simulate": {"seconds": 3600}, "n": i}} for i in range(jobs)]
    ids = asyncio.run(submit_many(sim.base_url, endpoint.runpod_id, bodies, concurrency=32))
    rows = [Job(endpoint=endpoint, runpod_id=i, status="IN_QUEUE", input={}) for i in ids]
    return [job.pk for job in Job.objects.bulk_create(rows, batch_size=500)]


def max_in_window(times: list[float]) -> int:
    """The most events in any WINDOW seconds."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= WINDOW:
            start += 1
        best = max(best, end - start + 1)
    return best


def one_run(sim, jobs: int, run: int) -> dict:
    from django.conf import settings
    from django.db.models import Count

    from jobs import selectors, services
    from jobs.models import BulkItem, Endpoint, StatusTransition

    endpoint_id = f"bulk-{uuid.uuid4().hex[:8]}"
    sim.control("POST", "endpoints", {"id": endpoint_id, "min_workers": 0, "max_workers": 1})
    endpoint = Endpoint.objects.create(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key=SIM_KEY)
    job_ids = queued_jobs(sim, endpoint, jobs)
    before = sim.stats()
    cpu0, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    bulk = services.bulk_start(
        kind="cancel", filters=selectors.JobFilters(endpoint_id=endpoint.pk), confirm=str(len(job_ids))
    )
    handovers = 0
    while services.bulk_run(bulk.pk, budget_seconds=settings.BULK_TASK_SECONDS):
        handovers += 1
    elapsed = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    after = sim.stats()
    bulk.refresh_from_db()
    items = dict(BulkItem.objects.filter(bulk=bulk).values_list("state").annotate(n=Count("id")).order_by())
    per_job = StatusTransition.objects.filter(job_id__in=job_ids, to_status="CANCELLED").values("job_id")
    once = per_job.annotate(n=Count("id")).filter(n=1).count()
    claims = sorted(at.timestamp() for at in BulkItem.objects.filter(bulk=bulk).values_list("claimed_at", flat=True))
    cancel_calls = after["requests"].get(endpoint_id, {}).get("cancel", 0)
    result = {
        "run": run,
        "jobs": len(job_ids),
        "seconds": round(elapsed, 2),
        "cpu_seconds": round((cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), 2),
        "state": bulk.state,
        "items": items,
        "cancelled_once": once,
        "cancel_calls": cancel_calls,
        "responses_429": after["responses"].get("429", 0) - before["responses"].get("429", 0),
        "max_cancels_per_10s": max_in_window(claims),
        "handovers": handovers,
    }
    log(f"run {run}: {result}")
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    url = pg_create("bench_bulk_cancel", fresh=True) if args.db == "postgres" else sqlite_url(NAME)
    # A private in-memory broker: the batch's task message must reach no worker, this process does the work.
    django_setup(url, CELERY_BROKER_URL="memory://")
    from django.conf import settings

    share = settings.RATE_LIMIT_SHARE
    per_window = max(1, int(LIMIT_PER_10S * share))
    with SimulatorProcess(latency_ms=args.latency_ms, rate_limits=True, endpoints=[]) as sim:
        runs = [one_run(sim, args.jobs, n) for n in range(1, args.runs + 1)]
    seconds = median([r["seconds"] for r in runs])
    floor_limit, floor_share = floor_seconds(args.jobs, LIMIT_PER_10S), floor_seconds(args.jobs, per_window)
    result.update(
        database=args.db,
        postgres=postgres_version(url) if url.startswith("postgres") else None,
        jobs=args.jobs,
        latency_ms=args.latency_ms,
        rate_limit_share=share,
        limit_per_10s=LIMIT_PER_10S,
        budget_per_10s=per_window,
        floor_seconds_limit=floor_limit,
        floor_seconds_budget=floor_share,
        median_seconds=seconds,
        ratio_to_limit_floor=round(seconds / floor_limit, 3) if floor_limit else None,
        ratio_to_budget_floor=round(seconds / floor_share, 3) if floor_share else None,
        all_cancelled_once=all(r["cancelled_once"] == r["jobs"] for r in runs),
        no_429=all(r["responses_429"] == 0 for r in runs),
        runs=runs,
    )
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
