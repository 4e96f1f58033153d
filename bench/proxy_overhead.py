"""The RunPod-compatible proxy: latency it adds to a call, and /run at RunPod's limit through one web process.

1. Starts the simulator (own process, --latency-ms per request, RunPod's rate limits on) and one gunicorn web
   process (gthread, --threads) on a PostgreSQL database of our own; an Operator's API token and the endpoint are
   made through the ORM.
2. Added latency: --calls calls of each operation (/status and /stream of a finished job, /run, /runsync,
   /health) one after another, each made straight to the simulator and then through the proxy (same keep-alive
   httpx client, interleaved so both see the same load); reports both distributions, the difference of their
   percentiles and their ratio, and the web process's CPU time per proxied call (from /proc, which counts only
   the time it ran, so it is far less sensitive to the machine's load than the wall times).
3. Rate: --rate /run per second for --seconds seconds (RunPod's limit is 1,000 per 10 s), paced by the clock from
   a thread pool; reports answers by status, latency percentiles, the lag behind the schedule and the web
   process's CPU time per call.

    .venv/bin/python bench/proxy_overhead.py                 # 300 calls per operation, 100 /run per s for 10 s
    .venv/bin/python bench/proxy_overhead.py --small         # 50 calls, 3 s
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

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
    process_cpu_seconds,
    write_result,
)
from bench.processes import children_of, gunicorn

NAME = "proxy_overhead"
ENDPOINT = "bench-proxy"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--calls", type=int, help="calls per operation and side (default 300)")
    parser.add_argument("--rate", type=float, default=100.0, help="/run per second in the rate run")
    parser.add_argument("--seconds", type=float, help="length of the rate run (default 10)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads of the one web process")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--no-rate", action="store_true", help="skip the paced /run rate run")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.calls = args.calls or (50 if args.small else 300)
    args.seconds = args.seconds or (3 if args.small else 10)
    return args


def setup_rows(sim_base_url: str) -> str:
    """The endpoint on the simulator and an Operator's token; returns the raw token."""
    from django.contrib.auth.models import Group, User

    from api.tokens import token_create
    from jobs.models import Endpoint

    Endpoint.objects.filter(runpod_id=ENDPOINT).delete()
    Endpoint.objects.create(name=ENDPOINT, runpod_id=ENDPOINT, base_url=sim_base_url, api_key=SIM_KEY)
    user, _ = User.objects.get_or_create(username="bench-proxy")
    user.groups.add(Group.objects.get(name="Operators"))
    return token_create(user=user, name="bench")[1]


def summary(values_s) -> dict:
    ms = [v * 1000 for v in values_s]
    return {
        "samples": len(ms),
        "p50_ms": round(median(ms), 2),
        "p90_ms": round(percentile(ms, 0.9), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }


def timed(call) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call()
    return time.perf_counter() - started, response


def finished_job(client: httpx.Client) -> str:
    job_id = client.post(f"/{ENDPOINT}/run", json={"input": {"x": 1}}).json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/{ENDPOINT}/status/{job_id}").json()["status"] != "COMPLETED":
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} did not complete")
        time.sleep(0.05)
    return job_id


def overhead(direct: httpx.Client, proxy: httpx.Client, calls: int, web_pid: int) -> dict:
    """Each operation `calls` times on each side, interleaved; the same finished job is read for /status."""
    # /run jobs: RunPod keeps their results 30 minutes (a /runsync result only 60 s, shorter than this run).
    finished = finished_job(direct)
    through = finished_job(proxy)
    operations = {
        "status": (lambda c, job: c.get(f"/{ENDPOINT}/status/{job}")),
        "run": (lambda c, job: c.post(f"/{ENDPOINT}/run", json={"input": {"prompt": "bench"}})),
        "runsync": (lambda c, job: c.post(f"/{ENDPOINT}/runsync", json={"input": {"prompt": "bench"}})),
        "stream": (lambda c, job: c.get(f"/{ENDPOINT}/stream/{job}")),
        "health": (lambda c, job: c.get(f"/{ENDPOINT}/health")),
    }
    results = {}
    for name, call in operations.items():
        sides = {"direct": [], "proxy": []}
        cpu_before = process_cpu_seconds(web_pid)
        for _ in range(calls):
            for side, client, job in (("direct", direct, finished), ("proxy", proxy, through)):
                elapsed, response = timed(lambda call=call, client=client, job=job: call(client, job))
                if response.status_code != 200:
                    raise SystemExit(f"{name} {side}: HTTP {response.status_code} {response.text[:200]}")
                sides[side].append(elapsed)
        web_cpu = process_cpu_seconds(web_pid) - cpu_before
        added = [p - d for p, d in zip(sides["proxy"], sides["direct"], strict=True)]
        results[name] = {
            # Only proxied calls reach the web process: its CPU time per call, less sensitive to load than wall time.
            "web_cpu_ms_per_call": round(web_cpu / calls * 1000, 2),
            "direct": summary(sides["direct"]),
            "proxy": summary(sides["proxy"]),
            "added": summary(added),
            "added_p50_ms": round((median(sides["proxy"]) - median(sides["direct"])) * 1000, 2),
            "added_p95_ms": round((percentile(sides["proxy"], 0.95) - percentile(sides["direct"], 0.95)) * 1000, 2),
            "added_p99_ms": round((percentile(sides["proxy"], 0.99) - percentile(sides["direct"], 0.99)) * 1000, 2),
            # Proxied over direct, measured in the same run: less sensitive to the machine's load than the ms.
            "ratio_p50": round(median(sides["proxy"]) / median(sides["direct"]), 3),
            "ratio_p95": round(percentile(sides["proxy"], 0.95) / percentile(sides["direct"], 0.95), 3),
        }
        log(
            f"{name}: added p50 {results[name]['added_p50_ms']} ms, p95 {results[name]['added_p95_ms']} ms, "
            f"p99 {results[name]['added_p99_ms']} ms; web CPU {results[name]['web_cpu_ms_per_call']} ms per call"
        )
    return results


def rate_run(proxy_url: str, token: str, rate: float, seconds: float, web_pid: int) -> dict:
    """--rate /run per second for --seconds through the proxy, paced by the clock."""
    total = int(rate * seconds)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    latencies: list[float] = [0.0] * total
    codes: list[int] = [0] * total
    lags: list[float] = [0.0] * total
    lock = threading.Lock()
    with httpx.Client(base_url=f"{proxy_url}/v2", headers=headers, timeout=30, limits=limits) as client:
        cpu_before = process_cpu_seconds(web_pid)
        start = time.perf_counter() + 0.2

        def one(index: int) -> None:
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            try:
                status = client.post(f"/{ENDPOINT}/run", json={"input": {"n": index}}).status_code
            except httpx.HTTPError:
                status = -1
            with lock:
                latencies[index] = time.perf_counter() - began
                codes[index] = status
                lags[index] = began - due

        with ThreadPoolExecutor(max_workers=64) as pool:
            list(pool.map(one, range(total)))
        elapsed = time.perf_counter() - start
        cpu = process_cpu_seconds(web_pid) - cpu_before
    by_code: dict[str, int] = {}
    for code in codes:
        by_code[str(code)] = by_code.get(str(code), 0) + 1
    return {
        "requests": total,
        "rate_asked_per_s": rate,
        "seconds": round(elapsed, 2),
        "achieved_per_s": round(total / elapsed, 1),
        "answers": by_code,
        "latency": summary(latencies),
        "start_lag": summary([max(0.0, lag) for lag in lags]),
        "web_cpu_s": round(cpu, 2),
        "web_cpu_ms_per_call": round(cpu / total * 1000, 2),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    database_url = pg_create(own_db("bench_proxy"), fresh=True)
    django_setup(database_url)
    result.update(postgres=postgres_version(database_url), latency_ms=args.latency_ms, threads=args.threads)
    endpoint = {"id": ENDPOINT, "min_workers": 8, "max_workers": 8, "cold_start": 0, "job_seconds": [0.01, 0.02]}
    with SimulatorProcess(latency_ms=args.latency_ms, endpoints=[endpoint], rate_limits=True) as sim:
        token = setup_rows(sim.base_url)
        web = gunicorn(database_url, workers=1, timed=False, GUNICORN_CMD_ARGS=f"--threads {args.threads}")
        try:
            web_pid = children_of(web.main_pid)[0]
            direct = httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {SIM_KEY}"}, timeout=30)
            proxy = httpx.Client(base_url=f"{web.url}/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            with direct, proxy:
                result["overhead"] = overhead(direct, proxy, args.calls, web_pid)
            if not args.no_rate:
                # A fresh 10 s window at the simulator and in the proxy's budget before the rate run.
                time.sleep(11)
                result["rate"] = rate_run(web.url, token, args.rate, args.seconds, web_pid)
                log(f"rate: {result['rate']['answers']} at {result['rate']['achieved_per_s']}/s")
        finally:
            web.stop()
    write_result(NAME, result, args.json)


if __name__ == "__main__":
    main()
