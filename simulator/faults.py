"""The gate in front of every `/v2` request: latency, injected faults, auth, unknown endpoints, rate limits.

It is plain ASGI (no Request objects) so it costs little on the hot status path. A dropped connection is
marked in the scope; `SimulatorApp` then returns a value from its ASGI call, which makes uvicorn close the
transport without writing a byte, which is what a dropped connection looks like to a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

from simulator.state import Simulator

DROP_KEY = "simulator.drop"
ERROR_CODES = (500, 502, 503)
OPERATIONS = frozenset(
    {"run", "runsync", "status", "status-sync", "stream", "cancel", "retry", "health", "purge-queue"}
)


class DropFilter(logging.Filter):
    """Silences uvicorn's complaint about the deliberate non-None return that drops a connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should return None" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(DropFilter())


class Gate:
    def __init__(self, app: Any, sim: Simulator):
        self.app, self.sim = app, sim

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        sim.engine.ensure_started()
        parts = scope["path"].split("/", 4)
        endpoint_id, operation = parts[2], parts[3] if len(parts) > 3 else ""
        known = endpoint_id in sim.engine.pools
        # Only known names become statistics keys, so stray paths cannot grow memory.
        sim.stats.request(endpoint_id if known else "(unknown)", operation if operation in OPERATIONS else "(other)")
        responses = sim.stats.responses

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                responses[message["status"]] += 1
            await send(message)

        if await self._fault(scope, counting_send):
            return
        refusal = self._refusal(scope, known, endpoint_id)
        if refusal is not None:
            await respond(counting_send, *refusal)
            return
        await self._limited(scope, receive, counting_send, endpoint_id, operation)

    async def _fault(self, scope: dict, send: Any) -> bool:
        """Adds latency and plays an injected fault; True if the request was answered (or dropped) here."""
        config, rng, faults = self.sim.config, self.sim.faults, self.sim.stats.faults
        delay = config.latency_ms + (rng.uniform(0, config.latency_jitter_ms) if config.latency_jitter_ms else 0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        roll = rng.random() if config.drop_rate or config.timeout_rate or config.error_rate else 1.0
        if roll < config.drop_rate:
            faults["drop"] += 1
            scope[DROP_KEY] = True
            return True
        roll -= config.drop_rate
        if roll < config.timeout_rate:
            faults["timeout"] += 1
            try:
                await asyncio.sleep(config.hang_seconds)
            except asyncio.CancelledError:
                scope[DROP_KEY] = True  # the server is stopping: the hung request ends as a dropped connection
                return True
            if rng.random() < 0.5:
                scope[DROP_KEY] = True
            else:
                await respond(send, 504, {"error": "simulated gateway timeout"})
            return True
        roll -= config.timeout_rate
        if roll < config.error_rate:
            faults["error"] += 1
            code = rng.choice(ERROR_CODES)
            await respond(send, code, {"error": f"simulated server error {code}"})
            return True
        if self.sim.consume_burst():
            faults["burst_429"] += 1
            await respond(send, 429, {"error": "rate limited (simulated burst)"}, self._retry_after(1.0))
            return True
        return False

    def _refusal(self, scope: dict, known: bool, endpoint_id: str) -> tuple | None:
        key = bearer_key(scope)
        expected = self.sim.config.api_key
        if not key or (expected is not None and key != expected):
            return (401, {"error": "Unauthorized: missing or invalid API key"})
        if not known:
            return (404, {"error": f"endpoint {endpoint_id} not found"})
        return None

    async def _limited(self, scope: dict, receive: Any, send: Any, endpoint_id: str, operation: str) -> None:
        config = self.sim.config
        multiplier = config.rate_limit_multiplier
        if multiplier is None:
            await self.app(scope, receive, send)
            return
        allowance = 0
        if config.rate_limit_per_worker:
            running = self.sim.engine.pools[endpoint_id].count("running")
            allowance = running * config.rate_limit_per_worker
        limiter = self.sim.limiter  # a reset may replace it while this request is in flight
        wait = limiter.acquire(endpoint_id, operation, multiplier, allowance)
        if wait is not None:
            self.sim.stats.faults["rate_limited"] += 1
            body = {"error": f"rate limit exceeded for /{operation} on endpoint {endpoint_id}"}
            await respond(send, 429, body, self._retry_after(wait))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            limiter.release(endpoint_id, operation)

    def _retry_after(self, wait: float) -> list[tuple[bytes, bytes]]:
        setting = self.sim.config.retry_after
        if setting is None:
            return []
        seconds = math.ceil(wait) if setting == "auto" else math.ceil(float(setting))
        return [(b"retry-after", str(seconds).encode())]


def bearer_key(scope: dict) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").strip().partition(" ")
            return rest.strip() if scheme.lower() == "bearer" else scheme
    return ""


async def respond(send: Any, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
