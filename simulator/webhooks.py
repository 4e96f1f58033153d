"""Webhooks: POSTed when a job ends, retried twice 10 RunPod seconds apart, like RunPod does.

Also a sink that records what it receives (`/_sim/webhooks/{name}`), so tests and demos need no other server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from typing import Any

import httpx

from simulator.clock import Clock

log = logging.getLogger(__name__)
ATTEMPTS = 3
RETRY_DELAY = 10.0  # RunPod seconds
TIMEOUT = 10.0  # real seconds per attempt
SINK_SIZE = 1000


class WebhookSender:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None

    def send(self, url: str, payload: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(url, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False)
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(self.clock.real(RETRY_DELAY))
            self.counters["sent"] += 1
            try:
                response = await self._http.post(url, json=payload)
            except httpx.HTTPError as exc:
                log.info("webhook to %s failed: %s", url, exc)
                continue
            if response.status_code == 200:
                self.counters["delivered"] += 1
                return
        self.counters["failed"] += 1

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.counters.clear()

    async def close(self) -> None:
        self.cancel_all()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class WebhookSink:
    """Remembers the last payloads POSTed to each name; `fail=N` makes the next N deliveries answer 500."""

    def __init__(self) -> None:
        self.received: dict[str, deque[dict[str, Any]]] = {}
        self.failures: Counter[str] = Counter()

    def receive(self, name: str, payload: Any) -> int:
        if self.failures[name] > 0:
            self.failures[name] -= 1
            return 500
        self.received.setdefault(name, deque(maxlen=SINK_SIZE)).append(payload)
        if len(self.received) > SINK_SIZE:
            self.received.pop(next(iter(self.received)))
        return 200

    def fail_next(self, name: str, count: int) -> None:
        self.failures[name] = count

    def payloads(self, name: str) -> list[dict[str, Any]]:
        return list(self.received.get(name, ()))

    def clear(self) -> None:
        self.received.clear()
        self.failures.clear()
