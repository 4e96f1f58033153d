"""A RunPod-compatible Serverless endpoint server (Starlette), for the demo, the tests and the benchmarks.

Routes: `/v2/{endpoint_id}/run|runsync|status/{id}|status-sync/{id}|stream/{id}|cancel/{id}|retry/{id}|health|
purge-queue` with RunPod's methods, Bearer keys (401), unknown endpoints (404), payload limits (413), rate limits
(429), retention, ttl and executionTimeout; control routes under `/_sim/` (see `simulator.control`).

Time: `time_scale` divides RunPod's own durations: retention (30 min for /run, 60 s for /runsync), `policy.ttl`,
`policy.executionTimeout`, `/status?ttl=`, the `wait` of /runsync, /status-sync and /stream, a worker's cold
start and idle timeout, the queue-delay scaling rule and the 10 s between webhook retries. Everything a test
chooses in `input.simulate` (`seconds`, `interval`) and the endpoint's default `job_seconds` are real seconds,
and so are the reported `delayTime` and `executionTime` (wall-clock milliseconds), the added latency and the
10 s windows of the rate limits.

Job behaviour comes from `input.simulate`: `{"seconds": 2.5, "fail": "reason", "stream": 5, "interval": 0.5,
"output_bytes": 1000, "progress": true, "no_output": true}`; without it a job echoes its input after a short
random duration. Given a seed, ids and durations are the same from run to run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.config import SimulatorConfig
from simulator.control import control_routes
from simulator.engine import QueueFull
from simulator.faults import DROP_KEY, Gate
from simulator.jobs import InputError, Job
from simulator.pool import Pool
from simulator.state import Simulator

RUN_MAX_BYTES = 10 * 1024 * 1024
RUNSYNC_MAX_BYTES = 20 * 1024 * 1024
WAIT_DEFAULT_MS, WAIT_MIN_MS, WAIT_MAX_MS = 90_000, 1_000, 300_000
DROPPED = "dropped"


class SimulatorApp(Starlette):
    """Starlette whose ASGI call returns a value for a dropped request, so uvicorn closes the connection."""

    sim: Simulator

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        await super().__call__(scope, receive, send)
        if scope.get(DROP_KEY):
            return DROPPED
        return None


class PayloadTooLarge(Exception):
    pass


def create_app(config: SimulatorConfig | dict[str, Any] | None = None) -> SimulatorApp:
    sim = Simulator(config)
    api = EndpointApi(sim)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.engine.ensure_started()
        yield
        await sim.engine.stop()

    app = SimulatorApp(
        routes=api.routes() + control_routes(sim), middleware=[Middleware(Gate, sim=sim)], lifespan=lifespan
    )
    app.sim = sim
    return app


class EndpointApi:
    """RunPod's `/v2/{endpoint_id}/...` operations; the Gate has already checked key, endpoint and limits."""

    def __init__(self, sim: Simulator):
        self.sim = sim

    def routes(self) -> list[Route]:
        both = ["GET", "POST"]
        return [
            Route("/v2/{endpoint_id}/run", self.run, methods=["POST"]),
            Route("/v2/{endpoint_id}/runsync", self.runsync, methods=["POST"]),
            Route("/v2/{endpoint_id}/status/{job_id}", self.status, methods=both),
            Route("/v2/{endpoint_id}/status-sync/{job_id}", self.status_sync, methods=both),
            Route("/v2/{endpoint_id}/stream/{job_id}", self.stream, methods=both),
            Route("/v2/{endpoint_id}/cancel/{job_id}", self.cancel, methods=["POST"]),
            Route("/v2/{endpoint_id}/retry/{job_id}", self.retry, methods=["POST"]),
            Route("/v2/{endpoint_id}/health", self.health, methods=["GET"]),
            Route("/v2/{endpoint_id}/purge-queue", self.purge_queue, methods=["POST"]),
        ]

    async def run(self, request: Request) -> Response:
        job = await self._submit(request, RUN_MAX_BYTES, sync=False)
        if not isinstance(job, Job):
            return job
        return JSONResponse({"id": job.id, "status": job.status})

    async def runsync(self, request: Request) -> Response:
        wait = wait_seconds(request, WAIT_DEFAULT_MS)
        job = await self._submit(request, RUNSYNC_MAX_BYTES, sync=True)
        if not isinstance(job, Job):
            return job
        await self.sim.engine.wait_for(job, lambda j: j.is_final, self.sim.engine.clock.real(wait))
        if job.is_final:
            return JSONResponse(job.status_object())
        return JSONResponse({"id": job.id, "status": job.status})

    async def status(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return not_found()
        ttl = request.query_params.get("ttl")
        if ttl is not None:
            try:
                self.sim.engine.set_retention(job, max(0.0, float(ttl)) / 1000)
            except ValueError:
                return JSONResponse({"error": "ttl must be milliseconds"}, 400)
        return JSONResponse(job.status_object())

    async def status_sync(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return not_found()
        wait = self.sim.engine.clock.real(wait_seconds(request, WAIT_DEFAULT_MS))
        await self.sim.engine.wait_for(job, lambda j: j.is_final, wait)
        return JSONResponse(job.status_object())

    async def stream(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return not_found()
        if "wait" in request.query_params:
            wait = self.sim.engine.clock.real(wait_seconds(request, WAIT_MIN_MS))
            await self.sim.engine.wait_for(job, lambda j: bool(j.chunks) or j.is_final, wait)
        return JSONResponse(job.stream_object())

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return not_found()
        self.sim.engine.cancel(self._pool(request), job)
        return JSONResponse({"id": job.id, "status": job.status})

    async def retry(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return not_found()
        if not self.sim.engine.retry(self._pool(request), job):
            message = f"job {job.id} is {job.status}: only FAILED or TIMED_OUT jobs can be retried"
            return JSONResponse({"error": message}, 400)
        return JSONResponse({"id": job.id, "status": job.status})

    async def health(self, request: Request) -> Response:
        return JSONResponse(self._pool(request).health())

    async def purge_queue(self, request: Request) -> Response:
        removed = self.sim.engine.purge(self._pool(request))
        return JSONResponse({"removed": removed, "status": "completed"})

    def _pool(self, request: Request) -> Pool:
        return self.sim.engine.pools[request.path_params["endpoint_id"]]

    def _job(self, request: Request) -> Job | None:
        job = self._pool(request).jobs.get(request.path_params["job_id"])
        return None if job is None or job.deleted else job

    async def _submit(self, request: Request, limit: int, *, sync: bool) -> Job | Response:
        try:
            body = await read_json(request, limit)
            return self.sim.engine.submit(self._pool(request), body, sync=sync)
        except PayloadTooLarge as exc:
            return JSONResponse({"error": f"payload too large: {exc} bytes, the limit is {limit}"}, 413)
        except InputError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except QueueFull as exc:
            return JSONResponse({"error": str(exc)}, 429)


async def read_json(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(length)
    size, parts = 0, []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise PayloadTooLarge(f"over {size}")
        parts.append(part)
    try:
        return json.loads(b"".join(parts) or b"null")
    except ValueError as exc:
        raise InputError(f"the body is not JSON: {exc}") from exc


def wait_seconds(request: Request, default_ms: int) -> float:
    """`?wait=` in RunPod seconds, held to RunPod's 1000..300000 ms."""
    try:
        wait_ms = float(request.query_params.get("wait", default_ms))
    except ValueError:
        wait_ms = default_ms
    return min(max(wait_ms, WAIT_MIN_MS), WAIT_MAX_MS) / 1000


def not_found() -> Response:
    return JSONResponse({"error": "request does not exist"}, 404)
