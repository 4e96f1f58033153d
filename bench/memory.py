"""Peak resident memory of a Celery worker with 10,000 jobs in flight, and of a web process serving the pages.

Worker: the simulator in its own process (50 ms per request, RunPod's limits on) runs --jobs long jobs over 10
endpoints, all tracked by the dashboard with default settings (a poll tick every 2 s, a job polled every 2 s).
A real worker (2 prefork processes and its beat) runs under `/usr/bin/time -v` for --seconds while a sampler
reads every process's VmHWM from /proc. The comparison in the same run is the same worker for the same time
with nothing to poll.

Web: gunicorn (one sync worker, as deployed) under `/usr/bin/time -v` on the page benchmark's database (see
bench/page_speed.py), serving every dashboard page --rounds times; the comparison is a second gunicorn serving
the admin's changelist and change pages of the same table for as many requests.

    .venv/bin/python bench/memory.py                      # 10,000 jobs for 60 s; pages on 1,000,000 jobs
    .venv/bin/python bench/memory.py --small              # 2,000 jobs for 20 s; pages on 100,000 jobs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    SIM_KEY,
    SimulatorProcess,
    django_setup,
    log,
    new_result,
    pg_create,
    submit_many,
    write_result,
)
from bench.processes import MemorySampler, celery_worker, gunicorn

NAME = "memory"
MIB = 1024


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--jobs", type=int, help="jobs in flight (default 10,000)")
    parser.add_argument("--seconds", type=float, help="seconds the worker runs (default 60)")
    parser.add_argument("--rounds", type=int, help="rounds over the pages (default 20)")
    parser.add_argument("--page-jobs", type=int, help="jobs in the page database (default 1,000,000)")
    parser.add_argument("--part", choices=("worker", "web"), help="measure only this one")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (2000 if args.small else 10_000)
    args.seconds = args.seconds or (20.0 if args.small else 60.0)
    args.rounds = args.rounds or (5 if args.small else 20)
    args.page_jobs = args.page_jobs or (100_000 if args.small else 1_000_000)
    return args


# --- The worker ------------------------------------------------------------------------------------------------


def seed_in_flight(sim, count: int, endpoints: int = 10) -> int:
    """Long jobs at the simulator, tracked as IN_PROGRESS here with the endpoints' default poll settings."""
    from django.utils import timezone

    from jobs.models import Endpoint, Job

    Job.objects.all().delete()
    Endpoint.objects.all().delete()
    body = {"input": {"prompt": "a long job", "simulate": {"seconds": 3000}}, "policy": {"executionTimeout": 3_600_000}}
    now = timezone.now()
    for i in range(endpoints):
        endpoint = Endpoint.objects.create(name=f"mem{i}", runpod_id=f"mem{i}", base_url=sim.base_url, api_key=SIM_KEY)
        ids = asyncio.run(submit_many(sim.base_url, endpoint.runpod_id, [body] * (count // endpoints)))
        Job.objects.bulk_create(
            [
                Job(endpoint=endpoint, runpod_id=job_id, status="IN_PROGRESS", input=body["input"], created_at=now,
                    submitted_at=now, seen_at=now, started_at=now, next_poll_at=now)
                for job_id in ids
            ],
            batch_size=2000,
        )  # fmt: skip
    return Job.objects.count()


def worker_peak(database_url: str, sim, seconds: float) -> dict:
    """Run a worker for `seconds`, sampling memory; returns its peaks and how many polls it made."""
    before = sim.stats()["requests_total"]
    worker = celery_worker(database_url)
    sampler = MemorySampler(worker.main_pid).start()
    time.sleep(seconds)
    processes = sampler.stop()
    time_kib = worker.stop()
    worker.cleanup()
    polls = sim.stats()["requests_total"] - before
    largest = processes[0] if processes else {"hwm_kib": 0, "command": ""}
    return {
        "peak_process_mib": round(largest["hwm_kib"] / MIB, 1),
        "peak_process": largest["command"],
        "time_max_rss_mib": round(time_kib / MIB, 1) if time_kib else None,
        "processes": [{**p, "hwm_mib": round(p["hwm_kib"] / MIB, 1)} for p in processes],
        "requests_to_simulator": polls,
        "polls_per_s": round(polls / seconds, 1),
    }


def measure_worker(args) -> dict:
    url = pg_create("bench_memory", fresh=True)
    django_setup(url)
    config = {"latency_ms": 50, "rate_limits": True, "seed": 5}
    per_endpoint = args.jobs // 10
    pool = {"min_workers": per_endpoint, "max_workers": per_endpoint, "cold_start": 0, "idle_timeout": 3600}
    config["endpoints"] = [{"id": f"mem{i}", **pool} for i in range(10)]
    with SimulatorProcess(**config) as sim:
        from jobs.models import Job

        Job.objects.all().delete()
        log("worker with nothing to poll")
        idle = worker_peak(url, sim, args.seconds)
        in_flight = seed_in_flight(sim, args.jobs)
        log(f"worker with {in_flight} jobs in flight")
        loaded = worker_peak(url, sim, args.seconds)
        loaded["jobs_in_flight"] = in_flight
        loaded["jobs_still_in_flight"] = Job.objects.filter(status="IN_PROGRESS").count()
    return {
        "idle": idle,
        "loaded": loaded,
        "ratio_to_idle": round(loaded["peak_process_mib"] / idle["peak_process_mib"], 2),
        "target_mib": 200,
    }


# --- The web process -------------------------------------------------------------------------------------------


def session_cookie() -> str:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def serve(database_url: str, urls: list[str], rounds: int, cookie: str, static_root: str) -> dict:
    import httpx

    server = gunicorn(database_url, STATIC_ROOT=static_root)
    worker_pid = server.main_pid
    sampler = MemorySampler(worker_pid, interval=0.2).start()
    time.sleep(1)
    sampler.sample()
    started_kib = max((p["hwm_kib"] for p in sampler.peaks.values()), default=0)
    requests, failures = 0, 0
    with httpx.Client(base_url=server.url, headers={"Cookie": cookie}, timeout=60, trust_env=False) as http:
        for _ in range(rounds):
            for url in urls:
                requests += 1
                failures += http.get(url).status_code != 200
    processes = sampler.stop()
    time_kib = server.stop()
    server.cleanup()
    largest = processes[0] if processes else {"hwm_kib": 0}
    return {
        "peak_process_mib": round(largest["hwm_kib"] / MIB, 1),
        "after_start_mib": round(started_kib / MIB, 1),
        "time_max_rss_mib": round(time_kib / MIB, 1) if time_kib else None,
        "requests": requests,
        "failed_requests": failures,
    }


def measure_web(args) -> dict:
    from bench.page_speed import collect_static, page_context, pages, prepare_environment
    from bench.seed_scale import ensure

    prepare_environment()
    database = "bench_pages_small" if args.small else "bench_pages"
    url = pg_create(database)
    django_setup(url)
    ensure(args.page_jobs)
    collect_static()
    page_list = pages(page_context(args.page_jobs))
    ours = [p["url"] for p in page_list if p["group"] != "admin"]
    admin = [p["url"] for p in page_list if p["group"] == "admin"]
    cookie = session_cookie()
    static_root = str(RESULTS / "static")
    log(f"gunicorn serving our {len(ours)} pages x {args.rounds}")
    dashboard = serve(url, ours, args.rounds, cookie, static_root)
    rounds = round(args.rounds * len(ours) / len(admin))
    log(f"gunicorn serving the admin's {len(admin)} pages x {rounds}")
    admin_run = serve(url, admin, rounds, cookie, static_root)
    return {
        "database_jobs": args.page_jobs,
        "dashboard": dashboard,
        "admin": admin_run,
        "ratio_to_admin": round(dashboard["peak_process_mib"] / admin_run["peak_process_mib"], 2),
        "target_mib": 150,
    }


def run_part(part: str, argv: list[str]) -> dict:
    """Each part sets Django up on its own database, so each runs in a process of its own."""
    import json
    import subprocess

    path = RESULTS / f"{NAME}_{part}.json"
    subprocess.run([sys.executable, __file__, *argv, "--part", part, "--json", str(path)], check=True)
    return json.loads(path.read_text())[part]


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    result = new_result(NAME, argv)
    if args.part == "worker":
        result["worker"] = measure_worker(args)
    elif args.part == "web":
        result["web"] = measure_web(args)
    else:
        forwarded = ["--jobs", str(args.jobs), "--seconds", str(args.seconds), "--rounds", str(args.rounds)]
        forwarded += ["--page-jobs", str(args.page_jobs), *(["--small"] if args.small else [])]
        result["worker"] = run_part("worker", forwarded)
        result["web"] = run_part("web", forwarded)
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
