"""What one status request costs the polling process in CPU, without storing anything: our client
(`AsyncRunPodClient.status` over `make_async_http()`, the poller's path) against a bare aiohttp GET whose body
is parsed with json.loads, both with the same number of requests in flight over the same endpoints.

Used by bench/poll_capacity.py to show how much of a stored poll is the HTTP stack; the difference is what a
leaner request path in jobs/runpod could give back.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bench.common import SIM_KEY


async def _drive(get_one, ids_by_endpoint: dict[str, list[str]], in_flight: int, seconds: float) -> dict:
    """Keep `in_flight` requests going per endpoint for `seconds`; requests/s and CPU µs per request."""
    done = failed = 0
    stop_at = time.monotonic() + seconds

    async def loop(endpoint_id, ids, slot):
        nonlocal done, failed
        index = slot
        while time.monotonic() < stop_at:
            try:
                await get_one(endpoint_id, ids[index % len(ids)])
                done += 1
            except Exception:  # an overloaded simulator refuses or times out: count it, keep measuring
                failed += 1
            index += in_flight

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(
        *(loop(e, ids, slot) for e, ids in ids_by_endpoint.items() for slot in range(in_flight) if ids)
    )
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return {
        "requests_per_s": round(done / elapsed),
        "cpu_us_per_request": round(cpu / max(done, 1) * 1e6),
        "failed": failed,
    }


async def through_client(base_url, ids_by_endpoint, in_flight, seconds) -> dict:
    from jobs import runpod

    http = runpod.make_async_http(max_connections=in_flight * len(ids_by_endpoint))
    limiter = runpod.RateLimiter.unlimited()
    clients = {
        e: runpod.AsyncRunPodClient(e, SIM_KEY, base_url=base_url, http=http, limiter=limiter, max_retries=0)
        for e in ids_by_endpoint
    }
    try:
        return await _drive(lambda e, job: clients[e].status(job), ids_by_endpoint, in_flight, seconds)
    finally:
        await http.aclose()


async def through_aiohttp(base_url, ids_by_endpoint, in_flight, seconds) -> dict:
    connector = aiohttp.TCPConnector(limit=in_flight * len(ids_by_endpoint))
    headers = {"Authorization": f"Bearer {SIM_KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def get_one(endpoint_id, job_id):
            async with session.get(f"{base_url}/{endpoint_id}/status/{job_id}") as response:
                return json.loads(await response.read())

        return await _drive(get_one, ids_by_endpoint, in_flight, seconds)


def http_floor(base_url: str, ids_by_endpoint: dict, *, in_flight: int, seconds: float, runs: int) -> dict:
    """Alternate the two, `runs` times each, and keep every run."""
    found = {"client": [], "aiohttp": []}
    for _ in range(runs):
        found["client"].append(asyncio.run(through_client(base_url, ids_by_endpoint, in_flight, seconds)))
        found["aiohttp"].append(asyncio.run(through_aiohttp(base_url, ids_by_endpoint, in_flight, seconds)))
    return {"in_flight_per_endpoint": in_flight, "endpoints": len(ids_by_endpoint), "seconds": seconds, **found}
