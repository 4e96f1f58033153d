"""Status polls per second one worker process sustains (fetch, parse, store), and proof of the rate limit.

1. Starts the simulator in its own process (50 ms added to every request, rate limits off) with ten endpoints
   whose workers run every job at once, and submits long jobs to it: `steady` jobs whose answer never changes
   and `progress` jobs whose answer carries a new progress object at every poll.
2. Stores them as IN_PROGRESS jobs in a database of our own (PostgreSQL `bench`, or SQLite with --db sqlite),
   each endpoint's status budget raised out of the way and its poll interval 0 s, so a job is due again as soon
   as its answer is stored.
3. Measures `poll_round(...)` (what one `poll_tick` task runs in one worker process) with
   `RateLimiter.unlimited()`, several runs per variant, and, in the same run, the loop a user of the official
   `runpod` package would write: `job.status()` for one job after another, each answer stored with an UPDATE.
4. With the documented limits in force (2,000 status calls per 10 s, the default limiter), two pollers take
   overlapping 8 s rounds every 2 s for --limit-seconds on one endpoint with many due jobs; the simulator's
   `max_poll_per_10s` for that endpoint must stay at or under 2,000.

    .venv/bin/python bench/poll_capacity.py                       # full size: 10,000 jobs, 5 runs of 10 s
    .venv/bin/python bench/poll_capacity.py --small               # about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import sys
import threading
import time
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
    pg_create,
    postgres_version,
    process_cpu_seconds,
    sqlite_url,
    submit_many,
    write_result,
)
from bench.profile import py_spy

NAME = "poll_capacity"
LONG = 3000  # seconds a simulated job runs: it outlives the benchmark
POLICY = {"executionTimeout": 3_600_000}
VARIANTS = {
    "steady": {"seconds": LONG},
    "progress": {"seconds": LONG, "progress": True, "interval": 2.0},
}
LIMITED = "limited"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a quick size: 2,000 jobs, 2 runs of 5 s")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--jobs", type=int, help="jobs per variant, spread over the endpoints (default 10,000)")
    parser.add_argument("--runs", type=int, help="runs per variant (default 5)")
    parser.add_argument("--seconds", type=float, help="seconds per run (default 10)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", help="POLL_CONCURRENCY values to try, comma-separated (default: setting)")
    parser.add_argument("--batch-size", type=int, help="POLL_BATCH_SIZE (default: setting)")
    parser.add_argument("--variants", default="steady,progress")
    parser.add_argument(
        "--processes", default="1", help="poller processes per row, comma-separated (2: two, half the endpoints each)"
    )
    parser.add_argument(
        "--pin",
        default="off",
        help="off, on or off,on: rows with the poller on CPU 0 and the simulator and PostgreSQL on CPU 1 (as taskset "
        "-c); pinned rows run one process",
    )
    parser.add_argument("--naive-seconds", type=float, help="seconds per run of the runpod package loop")
    parser.add_argument("--limit-seconds", type=float, help="seconds of the rate-limit proof (default 30)")
    parser.add_argument("--json", help="write the result here instead of var/bench/poll_capacity.json")
    parser.add_argument(
        "--profile", help="py-spy the measured runs of the first variant: writes PROFILE.txt and PROFILE.top.txt"
    )
    args = parser.parse_args(argv)
    defaults = (2000, 2, 5.0, 3.0, 22.0) if args.small else (10_000, 5, 10.0, 10.0, 30.0)
    for name, value in zip(("jobs", "runs", "seconds", "naive_seconds", "limit_seconds"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def simulator_config(args) -> dict:
    per_endpoint = -(-args.jobs // args.endpoints) * len(args.variants.split(","))
    pool = {"min_workers": per_endpoint, "max_workers": per_endpoint, "cold_start": 0, "idle_timeout": 3600}
    endpoints = [{"id": f"cap{i}", **pool} for i in range(args.endpoints)]
    endpoints.append({"id": LIMITED, **pool, "min_workers": 2000, "max_workers": 2000})
    return {"latency_ms": args.latency_ms, "rate_limits": False, "seed": 1, "endpoints": endpoints}


# --- Seeding ---------------------------------------------------------------------------------------------------


def seed(sim: SimulatorProcess, args) -> dict:
    """Submit the jobs to the simulator and store them; returns {variant: [endpoint pks]} and the limited pk."""
    from jobs.models import Endpoint, Job

    Job.objects.all().delete()
    Endpoint.objects.all().delete()
    endpoints = [make_endpoint(f"cap{i}", sim.base_url) for i in range(args.endpoints)]
    per_endpoint = -(-args.jobs // args.endpoints)
    for variant in args.variants.split(","):
        body = {"input": {"variant": variant, "simulate": VARIANTS[variant]}, "policy": POLICY}
        for endpoint in endpoints:
            ids = asyncio.run(submit_many(sim.base_url, endpoint.runpod_id, [body] * per_endpoint))
            store_jobs(endpoint, ids, variant)
    limited = make_endpoint(LIMITED, sim.base_url, raise_limits=False)
    body = {"input": {"variant": "limited", "simulate": {"seconds": LONG}}, "policy": POLICY}
    store_jobs(limited, asyncio.run(submit_many(sim.base_url, LIMITED, [body] * 2000)), "limited")
    log(f"seeded {Job.objects.count()} jobs on {Endpoint.objects.count()} endpoints")
    return {"endpoints": [e.pk for e in endpoints], "limited": limited.pk}


def make_endpoint(runpod_id: str, base_url: str, *, raise_limits=True):
    from jobs.models import Endpoint

    extra = {"status_rate_per_10s": 10_000_000} if raise_limits else {}
    return Endpoint.objects.create(
        name=runpod_id, runpod_id=runpod_id, base_url=base_url, api_key=SIM_KEY, poll_running_seconds=0, **extra
    )


def store_jobs(endpoint, runpod_ids, variant):
    from django.utils import timezone

    from jobs.models import Job

    now = timezone.now()
    Job.objects.bulk_create(
        [
            Job(
                endpoint=endpoint,
                runpod_id=runpod_id,
                status="IN_PROGRESS",
                input={"variant": variant, "simulate": VARIANTS.get(variant, {})},
                created_at=now,
                submitted_at=now,
                seen_at=now,
                started_at=now,
                next_poll_at=None,
            )
            for runpod_id in runpod_ids
        ],
        batch_size=2000,
    )


def make_due(variant: str, endpoint_pks) -> int:
    """Only this variant's jobs are due (now); every lease and budget starts clean."""
    from django.utils import timezone

    from jobs.models import Endpoint, Job

    Endpoint.objects.update(status_calls={}, poll_lock_until=None, poll_lock_token="", backoff_until=None)
    Job.objects.update(next_poll_at=None, lease_until=None, lease_token="", poll_failures=0, status="IN_PROGRESS")
    return Job.objects.filter(endpoint_id__in=endpoint_pks, input__variant=variant).update(next_poll_at=timezone.now())


# --- Measuring -------------------------------------------------------------------------------------------------


def postgres_pids() -> list[int]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def cpu_by_pid(pids) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = process_cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes used between two readings (a process born in between counts from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def pin(sim, enabled: bool) -> None:
    """The poller on CPU 0, the simulator and this database's PostgreSQL backends on CPU 1 (taskset's syscall);
    every CPU for all of them when not enabled."""
    every = set(range(os.cpu_count() or 1))
    os.sched_setaffinity(0, {0} if enabled else every)
    for pid in (sim.proc.pid, *postgres_pids()):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {1} if enabled else every)


def one_round(endpoint_pks, seconds) -> dict:
    """poll_round in this process: what it stored and the CPU it took."""
    from jobs import runpod
    from jobs.services import poll_round

    cpu, started = time.process_time(), time.monotonic()
    runs = poll_round(endpoint_pks, budget_seconds=seconds, limiter=runpod.RateLimiter.unlimited())
    return {
        "polled": sum(run.polled for run in runs),
        "cpu": time.process_time() - cpu,
        "elapsed": time.monotonic() - started,
        "stops": sorted({str(run.stop) for run in runs if run.stop}),
    }


def _child_round(pipe, endpoint_pks, seconds) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    # Threads do not survive a fork: sync_to_async's executor thread stayed in the parent, so make a new one.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    try:
        pipe.send(one_round(endpoint_pks, seconds))
    finally:
        from django.db import connections

        connections.close_all()


def rounds_in_processes(endpoint_pks, seconds, processes: int) -> list[dict]:
    """`processes` forked pollers at once, each on its share of the endpoints, as a worker's pool processes are."""
    from django.db import connections

    if processes == 1:
        return [one_round(endpoint_pks, seconds)]
    connections.close_all()  # a forked child must open its own
    context = multiprocessing.get_context("fork")
    pipes, children = [], []
    for share in (endpoint_pks[i::processes] for i in range(processes)):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child_round, args=(send, share, seconds))
        child.start()
        pipes.append(receive)
        children.append(child)
    found = [pipe.recv() for pipe in pipes]
    for child in children:
        child.join()
    return found


def measure_round(sim, endpoint_pks, seconds, processes=1) -> dict:
    """One poll_round over the endpoints (in one process or several): polls stored per second, and who used the CPU
    meanwhile."""
    before = sim.stats()
    sim_cpu, pg_cpu = sim.cpu_seconds(), cpu_by_pid(postgres_pids())
    started = time.monotonic()
    rounds = rounds_in_processes(endpoint_pks, seconds, processes)
    elapsed = time.monotonic() - started
    after = sim.stats()
    polled = sum(r["polled"] for r in rounds)
    answered_200 = after["responses"].get("200", 0) - before["responses"].get("200", 0)
    worker_cpu = sum(r["cpu"] for r in rounds)
    return {
        "polls_per_s": round(polled / elapsed, 1),
        # What the process stores per second of CPU it got: its rate on a core of its own.
        "polls_per_cpu_s": round(polled / worker_cpu, 1) if worker_cpu else None,
        "per_process_polls_per_cpu_s": [round(r["polled"] / r["cpu"], 1) if r["cpu"] else None for r in rounds],
        "processes": processes,
        "polled": polled,
        "elapsed_s": round(elapsed, 2),
        "simulator_200s": answered_200,
        "stops": sorted({stop for r in rounds for stop in r["stops"]}),
        "cpu_share": {
            "worker": round(worker_cpu / elapsed, 2),
            "simulator": round((sim.cpu_seconds() - sim_cpu) / elapsed, 2),
            "postgres": round(cpu_used(pg_cpu, cpu_by_pid(postgres_pids())) / elapsed, 2),
        },
    }


def measure_variant(sim, seeded, variant, args, concurrency, processes=1, pinned=False) -> dict:
    from django.conf import settings

    settings.POLL_CONCURRENCY = concurrency
    if args.batch_size:
        settings.POLL_BATCH_SIZE = args.batch_size
    make_due(variant, seeded["endpoints"])
    pin(sim, pinned)
    measure_round(sim, seeded["endpoints"], 2.0, processes)  # warm-up: connections, caches, JIT-free but still
    runs = []
    profile = args.profile if processes == 1 else None
    if profile:
        args.profile = None  # only the first variant's runs
    with py_spy(profile):
        for n in range(args.runs):
            make_due(variant, seeded["endpoints"])
            pin(sim, pinned)
            runs.append(measure_round(sim, seeded["endpoints"], args.seconds, processes))
            log(
                f"{variant} concurrency {concurrency} processes {processes}{' pinned' if pinned else ''} run {n + 1}: "
                f"{runs[-1]['polls_per_s']} polls/s, {runs[-1]['polls_per_cpu_s']} per CPU-s"
            )
    rates = [run["polls_per_s"] for run in runs]
    return {
        "median_polls_per_cpu_s": median([run["polls_per_cpu_s"] for run in runs]),
        "variant": variant,
        "processes": processes,
        "pinned": pinned,
        "poll_concurrency": concurrency,
        "poll_batch_size": settings.POLL_BATCH_SIZE,
        "median_polls_per_s": median(rates),
        "runs_polls_per_s": rates,
        "runs": runs,
    }


def naive_loop(sim, endpoint_pks, seconds) -> dict:
    """The obvious loop with the official package: job.status() per job, its answer stored with one UPDATE."""
    import runpod as official
    from django.utils import timezone
    from runpod.endpoint.runner import Job as OfficialJob
    from runpod.endpoint.runner import RunPodClient as OfficialClient

    from jobs.models import Job

    official.api_key, official.endpoint_url_base = SIM_KEY, sim.base_url
    client = OfficialClient()
    jobs = list(Job.objects.filter(endpoint_id__in=endpoint_pks).select_related("endpoint")[:2000])
    polled, started = 0, time.monotonic()
    for job in itertools.cycle(jobs):
        status = OfficialJob(job.endpoint.runpod_id, job.runpod_id, client).status()
        Job.objects.filter(pk=job.pk).update(status=status, last_polled_at=timezone.now())
        polled += 1
        if time.monotonic() - started >= seconds:
            break
    elapsed = time.monotonic() - started
    return {"polls_per_s": round(polled / elapsed, 1), "polled": polled, "elapsed_s": round(elapsed, 2)}


def measure_naive(sim, seeded, args) -> dict:
    make_due("steady", seeded["endpoints"])
    naive_loop(sim, seeded["endpoints"], 1.0)
    runs = [naive_loop(sim, seeded["endpoints"], args.naive_seconds) for _ in range(args.runs)]
    rates = [run["polls_per_s"] for run in runs]
    log(f"runpod package loop: {rates} polls/s")
    return {"median_polls_per_s": median(rates), "runs_polls_per_s": rates}


def measure_http_floor(sim, seeded, args) -> dict:
    """CPU per status request through our client and through bare aiohttp, nothing stored (bench/http_floor.py)."""
    from django.conf import settings

    from bench.http_floor import http_floor
    from jobs.models import Job

    ids: dict[str, list[str]] = {}
    for runpod_id, endpoint_id in Job.objects.filter(endpoint_id__in=seeded["endpoints"]).values_list(
        "runpod_id", "endpoint__runpod_id"
    ):
        ids.setdefault(endpoint_id, []).append(runpod_id)
    in_flight = args.default_concurrency or settings.POLL_CONCURRENCY
    floor = http_floor(
        sim.base_url, ids, in_flight=in_flight, seconds=2.0 if args.small else 5.0, runs=min(args.runs, 3)
    )
    log(f"HTTP only: client {floor['client']}, aiohttp {floor['aiohttp']}")
    return floor


# --- The documented limit --------------------------------------------------------------------------------------


def prove_rate_limit(sim, seeded, seconds) -> dict:
    """Two pollers take 8 s rounds every 2 s (as beat and a 2-process worker would) with the default limits."""
    from django.conf import settings
    from django.db import connections

    from jobs.models import Endpoint, Job
    from jobs.services import poll_round

    Endpoint.objects.update(status_calls={}, poll_lock_until=None, poll_lock_token="")
    Job.objects.update(next_poll_at=None)
    due = Job.objects.filter(endpoint_id=seeded["limited"]).update(next_poll_at=time_now())
    sim.configure(rate_limits=True)
    before = sim.stats()
    polled, lock = [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def poller():
        try:
            while time.monotonic() < stop_at:
                tick = time.monotonic()
                runs = poll_round([seeded["limited"]], budget_seconds=settings.POLL_TASK_BUDGET_SECONDS)
                with lock:
                    polled.append(sum(run.polled for run in runs))
                time.sleep(max(0.0, 2.0 - (time.monotonic() - tick)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = sim.stats()
    sim.configure(rate_limits=False)
    requests = after["requests"].get(LIMITED, {})
    limited_before = before["requests"].get(LIMITED, {})
    return {
        "seconds": seconds,
        "due_jobs": due,
        "documented_limit_per_10s": 2000,
        "endpoint_status_rate_per_10s": Endpoint.objects.get(pk=seeded["limited"]).status_rate_per_10s,
        "rate_limit_share": settings.RATE_LIMIT_SHARE,
        "max_poll_per_10s": after["max_poll_per_10s"].get(LIMITED, 0),
        "status_calls": requests.get("status", 0) - limited_before.get("status", 0),
        "answered_429": after["responses"].get("429", 0) - before["responses"].get("429", 0),
        "polled": sum(polled),
        "rounds": len(polled),
    }


def time_now():
    from django.utils import timezone

    return timezone.now()


# --- Main ------------------------------------------------------------------------------------------------------


def run_on(database: str, args) -> dict:
    from django.conf import settings

    args.default_concurrency = settings.POLL_CONCURRENCY
    concurrencies = [int(c) for c in args.concurrency.split(",")] if args.concurrency else [settings.POLL_CONCURRENCY]
    with SimulatorProcess(**simulator_config(args)) as sim:
        seeded = seed(sim, args)
        results = {"database": database, "naive": measure_naive(sim, seeded, args), "variants": []}
        first = args.variants.split(",")[0]
        for variant in args.variants.split(","):
            for concurrency in concurrencies:
                for processes in (int(p) for p in args.processes.split(",")):
                    for pinned in (mode == "on" for mode in args.pin.split(",")):
                        # Pinned and multi-process rows for the first variant only: they cost minutes each.
                        if (pinned and processes > 1) or ((pinned or processes > 1) and variant != first):
                            continue
                        row = measure_variant(sim, seeded, variant, args, concurrency, processes, pinned)
                        results["variants"].append(row)
                pin(sim, False)
        if database == "postgres":
            results["http_floor"] = measure_http_floor(sim, seeded, args)
            results["rate_limit"] = prove_rate_limit(sim, seeded, args.limit_seconds)
            log(f"rate limit: max {results['rate_limit']['max_poll_per_10s']} status calls in 10 s")
        stats = sim.stats()
        results["simulator"] = {"responses": stats["responses"], "faults": stats["faults"]}
    naive = results["naive"]["median_polls_per_s"]
    for variant in results["variants"]:
        variant["ratio_to_naive"] = round(variant["median_polls_per_s"] / naive, 1) if naive else None
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    url = pg_create(own_db("bench"), fresh=True) if args.db == "postgres" else sqlite_url("poll")
    django_setup(url)
    from django.conf import settings

    result.update(
        jobs_per_variant=args.jobs,
        endpoints=args.endpoints,
        latency_ms=args.latency_ms,
        seconds_per_run=args.seconds,
        runs=args.runs,
        settings={"POLL_CONCURRENCY": settings.POLL_CONCURRENCY, "POLL_BATCH_SIZE": settings.POLL_BATCH_SIZE},
        postgres=postgres_version(url) if url.startswith("postgres") else None,
        results=run_on(args.db, args),
    )
    write_result(NAME if args.db == "postgres" else f"{NAME}_sqlite", result, args.json)
    return result


if __name__ == "__main__":
    main()
