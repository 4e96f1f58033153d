"""Capture under load: every output archived before RunPod forgets it, and how long after completion.

1. Starts the simulator in its own process (50 ms per request, RunPod's rate limits on) with several endpoints,
   its clock compressed (--time-scale 120: the 30 minutes a /run result lives become 15 s), and a real Celery
   worker with its beat (default settings: a poll tick every 2 s) on a PostgreSQL database of our own.
2. Sends --jobs /run jobs spread over the endpoints, as fast as RunPod's /run limit lets one client, and tracks
   each in the dashboard (an IN_QUEUE job with its RunPod id, as `job_track` or `job_send` leave it).
3. Waits until nothing is left to fetch, then counts the jobs whose result expired before we stored it (must be
   0) and the lag from completion at RunPod to archived here, p50 and p99. Completion is the moment we sent
   /run, plus the request's latency, plus the job's delayTime and executionTime as RunPod reports them.
4. The comparison in the same run is the retention itself: p99 lag as a share of how long a result lives.

    .venv/bin/python bench/capture.py                 # 10,000 jobs on 5 endpoints, 3 runs
    .venv/bin/python bench/capture.py --small         # 2,000 jobs, 1 run
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SIM_KEY,
    SimulatorProcess,
    django_setup,
    log,
    median,
    new_result,
    own_db,
    percentile,
    pg_create,
    postgres_version,
    write_result,
)
from bench.processes import celery_worker, wait_until

NAME = "capture"
RUN_RETENTION_S = 30 * 60


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="2,000 jobs, one run")
    parser.add_argument("--jobs", type=int, help="jobs per run (default 10,000)")
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--runs", type=int, help="runs (default 3)")
    parser.add_argument("--time-scale", type=float, default=120.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=100, help="simulated GPU workers per endpoint")
    parser.add_argument("--job-seconds", default="0.5,3", help="range of a job's run time, real seconds")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for everything to settle")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (2000 if args.small else 10_000)
    args.runs = args.runs or (1 if args.small else 3)
    return args


def simulator_config(args) -> dict:
    low, high = (float(x) for x in args.job_seconds.split(","))
    pool = {"min_workers": args.workers, "max_workers": args.workers, "cold_start": 0, "job_seconds": [low, high]}
    return {
        "latency_ms": args.latency_ms,
        "time_scale": args.time_scale,
        "rate_limits": True,
        "seed": 3,
        "endpoints": [{"id": f"capture{i}", **pool} for i in range(args.endpoints)],
    }


def reset_database(sim, args) -> list:
    from jobs.models import Endpoint, Job

    Job.objects.all().delete()
    Endpoint.objects.all().delete()
    return [
        Endpoint.objects.create(name=f"capture{i}", runpod_id=f"capture{i}", base_url=sim.base_url, api_key=SIM_KEY)
        for i in range(args.endpoints)
    ]


async def send_all(sim, endpoints, count, limiter, unsent: list) -> dict[str, tuple[int, float]]:
    """/run `count` jobs round-robin over the endpoints through the default limiter; {runpod id: (endpoint, sent)}."""
    from jobs import runpod

    sent: dict[str, tuple[int, float]] = {}
    semaphore = asyncio.Semaphore(200)
    async with runpod.make_async_http(max_connections=200) as http:
        clients = [
            runpod.AsyncRunPodClient(e.runpod_id, SIM_KEY, base_url=sim.base_url, http=http, limiter=limiter)
            for e in endpoints
        ]

        async def one(n):
            endpoint = n % len(endpoints)
            async with semaphore:
                started = time.time()
                try:
                    state = await clients[endpoint].run({"n": n, "text": f"job {n}"})
                except runpod.RunPodError:
                    # No id came back (an overloaded simulator timed out): nothing for the poller to follow, so
                    # it is counted apart, never as lost.
                    unsent.append(n)
                    return
            sent[state.id] = (endpoints[endpoint].pk, started)

        await asyncio.gather(*(one(n) for n in range(count)))
    return sent


def track(sent: dict, since: int) -> None:
    """Store the jobs sent so far that are not stored yet, as /run leaves them: IN_QUEUE, due now."""
    from django.utils import timezone

    from jobs.models import Job

    now = timezone.now()
    rows = [
        Job(
            endpoint_id=endpoint_pk,
            runpod_id=runpod_id,
            status="IN_QUEUE",
            input={"runpod_id": runpod_id},
            created_at=datetime.fromtimestamp(at, UTC),
            submitted_at=datetime.fromtimestamp(at, UTC),
            seen_at=now,
            next_poll_at=now,
        )
        for runpod_id, (endpoint_pk, at) in list(sent.items())[since:]
    ]
    Job.objects.bulk_create(rows, batch_size=2000)


def submit(sim, endpoints, args) -> dict:
    """Send in slices of a second's worth, storing each slice as it is sent, so polling starts at once."""
    from jobs import runpod

    sent: dict = {}
    unsent: list = []
    limiter = runpod.RateLimiter()
    slice_size = 100 * len(endpoints)  # RunPod's /run limit: 1,000 per 10 s per endpoint
    started = time.monotonic()
    while len(sent) < args.jobs:
        count = min(slice_size, args.jobs - len(sent))
        before = len(sent)
        batch = asyncio.run(send_all(sim, endpoints, count, limiter, unsent))
        sent.update(batch)
        track(sent, before)
    log(f"sent {len(sent)} jobs in {time.monotonic() - started:.1f} s ({len(unsent)} /run calls without an answer)")
    return sent, len(unsent)


def settled() -> bool:
    from jobs.models import Job

    return not Job.objects.filter(next_poll_at__isnull=False).exists()


def outcome(sent, args) -> dict:
    """Lost results and the lag from completion at RunPod to archived here."""
    from jobs.models import Job

    rows = Job.objects.values_list(
        "runpod_id", "status", "archived", "expired", "not_found", "archived_at", "delay_ms", "execution_ms"
    )
    lags, lost, statuses = [], 0, {}
    latency = timedelta(milliseconds=args.latency_ms)
    for runpod_id, status, archived, expired, not_found, archived_at, delay_ms, execution_ms in rows:
        statuses[status] = statuses.get(status, 0) + 1
        if expired or not_found or not archived:
            lost += 1
            continue
        queued = datetime.fromtimestamp(sent[runpod_id][1], UTC) + latency
        completed = queued + timedelta(milliseconds=(delay_ms or 0) + (execution_ms or 0))
        lags.append((archived_at - completed).total_seconds())
    return {"stored": sum(statuses.values()), "lost": lost, "statuses": statuses, "lags": lags}


def one_run(args, database_url) -> dict:
    with SimulatorProcess(**simulator_config(args)) as sim:
        endpoints = reset_database(sim, args)
        worker = celery_worker(database_url, timed=False)
        try:
            started = time.monotonic()
            sent, unanswered = submit(sim, endpoints, args)
            done = wait_until(settled, timeout=args.timeout, interval=1.0, message="every job settled")
            elapsed = time.monotonic() - started
        finally:
            worker.stop()
        stats = sim.stats()
    result = outcome(sent, args)
    lags = result.pop("lags")
    retention = RUN_RETENTION_S / args.time_scale
    run = {
        **result,
        "settled": bool(done),
        # /run calls our sender got no answer to (sent again in a later slice); not jobs the poller could lose.
        "run_unanswered": unanswered,
        "seconds": round(elapsed, 1),
        "lag_p50_s": round(percentile(lags, 0.5), 3),
        "lag_p99_s": round(percentile(lags, 0.99), 3),
        "lag_max_s": round(max(lags), 3) if lags else None,
        "retention_s": retention,
        "p99_share_of_retention": round(percentile(lags, 0.99) / retention, 3),
        "status_calls": sum(ops.get("status", 0) for ops in stats["requests"].values()),
        # More /run calls than jobs: our sender's retries after a 429 (the 429s below are mostly those).
        "run_calls": sum(ops.get("run", 0) for ops in stats["requests"].values()),
        "max_poll_per_10s": stats["max_poll_per_10s_any"],
        "answered_429": stats["responses"].get("429", 0),
        "simulator_expired": stats["engine"].get("jobs_expired", 0),
    }
    log(f"lost {run['lost']}, lag p50 {run['lag_p50_s']} s, p99 {run['lag_p99_s']} s of {retention:.0f} s retention")
    return run


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    url = pg_create(own_db("bench_capture"), fresh=True)
    django_setup(url)
    runs = [one_run(args, url) for _ in range(args.runs)]
    result.update(
        jobs=args.jobs,
        endpoints=args.endpoints,
        time_scale=args.time_scale,
        latency_ms=args.latency_ms,
        retention_s=RUN_RETENTION_S / args.time_scale,
        postgres=postgres_version(url),
        runs=runs,
        lost_total=sum(run["lost"] for run in runs),
        median_lag_p50_s=median([run["lag_p50_s"] for run in runs]),
        median_lag_p99_s=median([run["lag_p99_s"] for run in runs]),
    )
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
