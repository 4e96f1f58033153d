"""Requests per second through each async HTTP pool, against a local server that adds 50 ms per request.

    .venv/bin/python bench/client_transport.py [--seconds 2] [--runs 3] [--inflight 20,64,128] [--latency-ms 50]

The server is a tiny aiohttp app in its own process (so it does not share the client's event loop), bound to
127.0.0.1 on a free port; it answers RunPod-like status objects after `latency` ms. For every pool and
number of requests in flight, each run opens a fresh pool, warms it with one round of requests (so connection
set-up is not counted), then keeps exactly N requests in flight for `seconds` and counts answers. The table
shows the median of the runs; the ceiling is N / latency, what a perfect client would reach.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from jobs import runpod  # noqa: E402

STATUS = b'{"id":"job-1","status":"IN_PROGRESS","delayTime":12,"workerId":"w-1"}'


def serve(latency: float, port_out) -> None:
    """The server process: answer every request after `latency` seconds."""
    from aiohttp import web

    async def answer(request):
        await asyncio.sleep(latency)
        return web.Response(body=STATUS, content_type="application/json")

    async def main():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def httpx_default(base: str):
    client = httpx.AsyncClient()
    return client, lambda: client.get(f"{base}/ep/status/job-1")


def httpx_sized(base: str):
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    client = httpx.AsyncClient(limits=limits)
    return client, lambda: client.get(f"{base}/ep/status/job-1")


def aiohttp_pool(base: str):
    client = runpod.make_async_http()
    return client, lambda: client.get(f"{base}/ep/status/job-1")


def runpod_client(base: str):
    http = runpod.make_async_http()
    client = runpod.AsyncRunPodClient(
        "ep", "bench-key", base_url=base, http=http, limiter=runpod.RateLimiter.unlimited()
    )
    return http, lambda: client.status("job-1")


VARIANTS = {
    "httpx AsyncClient, default pool (100 connections, 20 kept alive)": httpx_default,
    "httpx AsyncClient, pool sized to 512/512": httpx_sized,
    "make_async_http() (httpx API over httpx-aiohttp)": aiohttp_pool,
    "AsyncRunPodClient.status over make_async_http() (parsing, limiter off)": runpod_client,
}


async def one_run(make, base: str, inflight: int, seconds: float) -> tuple[float, int]:
    """Requests per second with `inflight` requests kept in flight, and how many failed."""
    http, request = make(base)
    done, failed = 0, 0
    try:
        await asyncio.gather(*(request() for _ in range(inflight)))
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal done, failed
            while time.perf_counter() < deadline:
                try:
                    await request()
                    done += 1
                except Exception:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        return done / (time.perf_counter() - started), failed
    finally:
        await http.aclose()


def measure(base: str, inflights: list[int], runs: int, seconds: float) -> dict:
    results = {}
    for name, make in VARIANTS.items():
        for inflight in inflights:
            rates, failures = [], 0
            for _ in range(runs):
                rate, failed = asyncio.run(one_run(make, base, inflight, seconds))
                rates.append(rate)
                failures += failed
            results[name, inflight] = (statistics.median(rates), failures)
            print(f"  {name} @ {inflight}: {[round(r) for r in rates]} req/s, {failures} failed", file=sys.stderr)
    return results


def table(results: dict, inflights: list[int], latency: float) -> str:
    head = "| pool | " + " | ".join(f"{n} in flight" for n in inflights) + " |"
    lines = [head, "| --- |" + " --- |" * len(inflights)]
    for name in VARIANTS:
        cells = []
        for n in inflights:
            rate, failed = results[name, n]
            cells.append(f"{rate:,.0f}" + (f" ({failed} failed)" if failed else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| ceiling (in flight / latency) | " + " | ".join(f"{n / latency:,.0f}" for n in inflights) + " |")
    return "\n".join(lines)


def limiter_rates(count: int = 200_000) -> list[tuple[str, float]]:
    """Acquire/release pairs per second through the rate limiter, uncontended and with a concurrency cap hit."""
    endpoint = ("http://bench/v2", "ep")
    limiter = runpod.RateLimiter()
    limiter.set_limit(endpoint, "status", 10**9, 400)
    started = time.perf_counter()
    for _ in range(count):
        limiter.acquire(endpoint, "status")
        limiter.release(endpoint, "status")
    rates = [("sync, one thread, under the cap", count / (time.perf_counter() - started))]

    async def contended(workers: int) -> float:
        per_worker = count // workers

        async def worker():
            for _ in range(per_worker):
                await limiter.acquire_async(endpoint, "status")
                await asyncio.sleep(0)  # hold the slot across a switch, as a request would
                limiter.release(endpoint, "status")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return per_worker * workers / (time.perf_counter() - started)

    rates.append(("async, 100 coroutines, cap 400 (never waits)", asyncio.run(contended(100))))
    rates.append(("async, 1,000 coroutines, cap 400 (queues)", asyncio.run(contended(1000))))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the table shows the median")
    parser.add_argument("--inflight", default="20,64,128", help="comma-separated requests in flight")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the server's added latency")
    args = parser.parse_args()
    inflights = [int(n) for n in args.inflight.split(",")]
    latency = args.latency_ms / 1000

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(latency, send), daemon=True)
    server.start()
    try:
        if not receive.poll(30):
            raise SystemExit("the bench server did not start")
        base = f"http://127.0.0.1:{receive.recv()}/v2"
        print(
            f"server at {base}, {args.latency_ms:.0f} ms latency; {args.runs} x {args.seconds} s per cell",
            file=sys.stderr,
        )
        results = measure(base, inflights, args.runs, args.seconds)
    finally:
        server.terminate()
        server.join(5)
    print(
        f"Requests per second, median of {args.runs} runs of {args.seconds:g} s, {args.latency_ms:g} ms server latency"
    )
    print()
    print(table(results, inflights, latency))
    print()
    print("| rate limiter | acquire/release pairs per second |")
    print("| --- | --- |")
    for name, rate in limiter_rates():
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
