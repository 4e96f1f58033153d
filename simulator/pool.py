"""One endpoint: its FIFO queue, its stored jobs and its worker pool with RunPod's scaling rules."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, OrderedDict, deque
from typing import TYPE_CHECKING, Any

from simulator.config import EndpointConfig
from simulator.jobs import IN_QUEUE, Job

if TYPE_CHECKING:
    from simulator.engine import Engine

INITIALIZING, IDLE, RUNNING = "initializing", "idle", "running"
MIN_IDLE_WAIT = 0.05  # real seconds; keeps a worker kept by min_workers from spinning at huge time scales


class Worker:
    __slots__ = ("id", "job", "started_real", "state", "task")

    def __init__(self, worker_id: str):
        self.id, self.state, self.job, self.started_real = worker_id, INITIALIZING, None, time.monotonic()
        self.task: asyncio.Task | None = None


class Pool:
    """Jobs are handed to waiting workers in O(1); a queued job can leave the queue in O(1) (cancel, purge)."""

    def __init__(self, config: EndpointConfig, engine: Engine):
        self.config, self.engine = config, engine
        self.jobs: dict[str, Job] = {}
        self.queue: OrderedDict[str, Job] = OrderedDict()
        self.normal_queued = 0  # queued jobs without policy.lowPriority: only these make the pool grow
        self.waiters: deque[asyncio.Future] = deque()
        self.workers: dict[str, Worker] = {}
        self.states: Counter[str] = Counter()  # workers per state, kept as they change so reads are O(1)
        self.completed = self.failed = self.retried = 0
        self.peak_workers = 0

    # The queue

    def enqueue(self, job: Job) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(job)
                return
        self.queue[job.id] = job
        if not job.policy.low_priority:
            self.normal_queued += 1

    def dequeue(self, job: Job) -> bool:
        if self.queue.pop(job.id, None) is None:
            return False
        if not job.policy.low_priority:
            self.normal_queued -= 1
        return True

    def drain_queue(self) -> list[Job]:
        jobs = list(self.queue.values())
        self.queue.clear()
        self.normal_queued = 0
        return jobs

    def _take_nowait(self) -> Job | None:
        if not self.queue:
            return None
        _, job = self.queue.popitem(last=False)
        if not job.policy.low_priority:
            self.normal_queued -= 1
        return job

    async def _take(self, timeout: float) -> Job | None:
        job = self._take_nowait()
        if job is not None:
            return job
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, max(timeout, MIN_IDLE_WAIT))
        except TimeoutError:
            return None

    # Workers

    def count(self, state: str) -> int:
        return self.states[state]

    def _set_state(self, worker: Worker, state: str) -> None:
        self.states[worker.state] -= 1
        self.states[state] += 1
        worker.state = state

    def autoscale(self, now: float) -> None:
        """Grows the pool by RunPod's rule; it shrinks only through idle timeouts."""
        config, active = self.config, len(self.workers)
        if not self.normal_queued and active >= config.min_workers:
            return
        running = self.count(RUNNING)
        target = config.min_workers
        if config.scaler == "request_count":
            target = max(target, math.ceil((self.normal_queued + running) / config.scaler_value))
        elif self.normal_queued and self._oldest_wait(now) >= config.scaler_value:
            target = max(target, running + self.normal_queued)
        for _ in range(min(target, config.max_workers) - active):
            self._spawn()

    def _oldest_wait(self, now: float) -> float:
        head = next(iter(self.queue.values()))
        return now - head.queued_at

    def _spawn(self) -> None:
        worker = Worker(self.engine.new_worker_id())
        self.workers[worker.id] = worker
        self.states[worker.state] += 1
        self.peak_workers = max(self.peak_workers, len(self.workers))
        worker.task = asyncio.get_running_loop().create_task(self._worker_main(worker))

    async def _worker_main(self, worker: Worker) -> None:
        clock = self.engine.clock
        try:
            await asyncio.sleep(clock.real(self.config.cold_start))
            while len(self.workers) <= self.config.max_workers:
                self._set_state(worker, IDLE)
                job = await self._take(clock.real(self.config.idle_timeout))
                if job is None:
                    if len(self.workers) > self.config.min_workers:
                        break
                    continue
                if job.status != IN_QUEUE:
                    continue
                self._set_state(worker, RUNNING)
                worker.job = job
                await self.engine.execute(self, worker, job)
                worker.job = None
        finally:
            if self.workers.pop(worker.id, None) is not None:
                self.states[worker.state] -= 1

    def trim(self) -> None:
        """Wakes idle workers beyond max_workers (after a settings change) so they leave now."""
        surplus = len(self.workers) - self.config.max_workers
        while surplus > 0 and self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                surplus -= 1

    def stop_workers(self) -> None:
        for worker in list(self.workers.values()):
            if worker.task is not None:
                worker.task.cancel()
        self.workers.clear()
        self.states.clear()
        for waiter in self.waiters:
            waiter.cancel()
        self.waiters.clear()

    # Reports

    def health(self) -> dict[str, Any]:
        idle, running = self.count(IDLE), self.count(RUNNING)
        return {
            "jobs": {
                "completed": self.completed,
                "failed": self.failed,
                "inProgress": running,
                "inQueue": len(self.queue),
                "retried": self.retried,
            },
            "workers": {
                "idle": idle,
                "initializing": self.count(INITIALIZING),
                "ready": idle,
                "running": running,
                "throttled": self.config.throttled_workers,
                "unhealthy": self.config.unhealthy_workers,
            },
        }

    def workers_list(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {"id": w.id, "state": w.state, "job": w.job.id if w.job else None, "uptime_s": round(now - w.started_real)}
            for w in self.workers.values()
        ]
