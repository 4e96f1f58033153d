"""Control routes under `/_sim/` (no RunPod equivalent, no key needed; the server binds 127.0.0.1).

- `GET/POST /_sim/config`: read or change time_scale, latency_ms, latency_jitter_ms, error_rate, timeout_rate,
  hang_seconds, drop_rate, rate_limit_burst, retry_after, rate_limits, rate_limit_per_worker, api_key,
  ignore_cancel (a running job keeps running after /cancel, which answers IN_PROGRESS), ignore_timeout (a job runs
  past its executionTimeout).
- `GET/POST /_sim/endpoints`: list endpoints, or add one / change some settings of one (`{"id": ..., ...}`).
- `GET /_sim/stats`: requests per endpoint and operation, answers per status code, the largest number of
  /status + /status-sync + /stream calls to one endpoint in any sliding 10 s window, jobs by state, chunks
  produced, webhooks sent, faults played, health and workers per endpoint.
- `POST /_sim/reset`: back to the start settings, with no jobs and no statistics.
- `POST /_sim/webhooks/{name}`: a webhook receiver; `GET` lists what it got; `POST .../fail?count=N` makes it
  answer 500 to the next N deliveries.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.config import ConfigError
from simulator.state import Simulator


def control_routes(sim: Simulator) -> list[Route]:
    async def get_config(request: Request) -> Response:
        return JSONResponse(sim.config.as_dict())

    async def set_config(request: Request) -> Response:
        try:
            return JSONResponse(sim.configure(await _object(request)).as_dict())
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)

    async def get_endpoints(request: Request) -> Response:
        return JSONResponse([p.config.as_dict() for p in sim.engine.pools.values()])

    async def set_endpoint(request: Request) -> Response:
        try:
            return JSONResponse(sim.set_endpoint(await _object(request)).as_dict())
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)

    async def stats(request: Request) -> Response:
        return JSONResponse(sim.stats_dict())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"status": "reset"})

    async def webhook_receive(request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            payload = None
        status = sim.sink.receive(request.path_params["name"], payload)
        return JSONResponse({"received": status == 200}, status)

    async def webhook_list(request: Request) -> Response:
        return JSONResponse(sim.sink.payloads(request.path_params["name"]))

    async def webhook_fail(request: Request) -> Response:
        count = int(request.query_params.get("count", "1"))
        sim.sink.fail_next(request.path_params["name"], count)
        return JSONResponse({"fail_next": count})

    return [
        Route("/_sim/config", get_config, methods=["GET"]),
        Route("/_sim/config", set_config, methods=["POST"]),
        Route("/_sim/endpoints", get_endpoints, methods=["GET"]),
        Route("/_sim/endpoints", set_endpoint, methods=["POST"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/webhooks/{name}", webhook_receive, methods=["POST"]),
        Route("/_sim/webhooks/{name}", webhook_list, methods=["GET"]),
        Route("/_sim/webhooks/{name}/fail", webhook_fail, methods=["POST"]),
    ]


async def _object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ConfigError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("the body must be a JSON object")
    return data
