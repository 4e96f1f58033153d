"""The job engine: every endpoint's pool, job deadlines in RunPod time, and the one background ticker.

All of it runs on the server's event loop: one task per worker and one per running job, no threads. A heap of
deadlines (ttl, executionTimeout, retention) keeps expiry O(log n) per job, so memory stays bounded however
long the simulator runs.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import string
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from simulator.clock import Clock
from simulator.config import EndpointConfig, SimulatorConfig
from simulator.jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    IN_QUEUE,
    MISSING,
    TIMED_OUT,
    Job,
    SimulatedFailure,
    error_string,
    perform,
)
from simulator.pool import Pool, Worker
from simulator.webhooks import WebhookSender

log = logging.getLogger(__name__)
TICK = 0.02  # real seconds between scaling and deadline checks


class QueueFull(Exception):
    """The endpoint already holds its maximum of queued jobs."""


class Engine:
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.clock = Clock(config.time_scale)
        seed = config.seed
        self.ids = random.Random(seed)
        self.durations = random.Random(None if seed is None else seed + 1)
        # Workers come and go with timing; their own generator keeps job ids the same from run to run.
        self.worker_ids = random.Random(None if seed is None else seed + 3)
        self.pools: dict[str, Pool] = {e.id: Pool(e, self) for e in config.endpoints}
        self.webhooks = WebhookSender(self.clock)
        self.deadlines: list[tuple[float, int, Job]] = []
        self._seq = 0
        self.counters: Counter[str] = Counter()
        self._ticker: asyncio.Task | None = None

    # Life cycle

    def ensure_started(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
            self.tick()  # min_workers are there from the start

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._clear()
        await self.webhooks.close()

    def reset(self, config: SimulatorConfig) -> None:
        """Forgets every job, worker and counter and starts over from `config`."""
        self._clear()
        self.config = config
        self.clock.scale = config.time_scale
        self.ids.seed(config.seed)
        self.durations.seed(None if config.seed is None else config.seed + 1)
        self.worker_ids.seed(None if config.seed is None else config.seed + 3)
        self.pools = {e.id: Pool(e, self) for e in config.endpoints}
        if self._ticker is not None:
            self.tick()

    def _clear(self) -> None:
        for pool in self.pools.values():
            pool.stop_workers()
            for job in pool.jobs.values():
                if job.task is not None:
                    job.task.cancel()
                job.deleted = True
                job.notify()
        self.deadlines.clear()
        self.counters.clear()
        self.webhooks.cancel_all()

    def set_endpoint(self, config: EndpointConfig) -> Pool:
        pool = self.pools.get(config.id)
        if pool is None:
            pool = self.pools[config.id] = Pool(config, self)
        pool.config = config
        pool.trim()
        pool.autoscale(self.clock.now())
        return pool

    # Ids

    def new_job_id(self, sync: bool) -> str:
        job_id = str(uuid.UUID(int=self.ids.getrandbits(128), version=4))
        return f"sync-{job_id}" if sync else job_id

    def new_worker_id(self) -> str:
        return "".join(self.worker_ids.choices(string.ascii_lowercase + string.digits, k=14))

    # Operations

    def submit(self, pool: Pool, body: Any, *, sync: bool) -> Job:
        if len(pool.queue) >= pool.config.max_queue:
            raise QueueFull(f"endpoint {pool.config.id} already holds {len(pool.queue)} queued jobs")
        job = Job(self.new_job_id(sync), pool.config.id, body, sync=sync, now=self.clock.now(), real=time.monotonic())
        pool.jobs[job.id] = job
        pool.enqueue(job)
        pool.autoscale(self.clock.now())
        self._schedule(job)
        self.counters["jobs_created"] += 1
        return job

    def cancel(self, pool: Pool, job: Job) -> None:
        if job.status == IN_QUEUE:
            pool.dequeue(job)
            self._finish(pool, job, CANCELLED)
        elif job.status == IN_PROGRESS and not self.config.ignore_cancel:
            self._stop_task(job)
            self._finish(pool, job, CANCELLED)

    def retry(self, pool: Pool, job: Job) -> bool:
        if job.status not in (FAILED, TIMED_OUT):
            return False
        job.retries += 1
        job.requeue(self.clock.now(), time.monotonic())
        pool.retried += 1
        pool.enqueue(job)
        self._schedule(job)
        job.notify()
        return True

    def purge(self, pool: Pool) -> int:
        jobs = pool.drain_queue()
        for job in jobs:
            self._finish(pool, job, CANCELLED)
        return len(jobs)

    def set_retention(self, job: Job, seconds: float) -> None:
        """`/status?ttl=`: how long the result is kept from now (or after completion, if still running)."""
        job.retention = seconds
        if job.is_final:
            job.expire_at = self.clock.now() + seconds
            self._schedule(job)

    async def wait_for(self, job: Job, ready: Callable[[Job], bool], timeout: float) -> None:
        """Waits up to `timeout` real seconds until `ready(job)` or the job is gone."""
        deadline = time.monotonic() + timeout
        while not (ready(job) or job.deleted):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(job.changed().wait(), remaining)
            except TimeoutError:
                return

    # Execution (called by a pool's worker task)

    async def execute(self, pool: Pool, worker: Worker, job: Job) -> None:
        now = time.monotonic()
        job.status, job.worker_id = IN_PROGRESS, worker.id
        job.started_at, job.started_real = self.clock.now(), now
        job.delay_ms = round((now - job.queued_real) * 1000)
        attempt = job.attempt
        self._schedule(job)
        job.notify()
        job.task = asyncio.get_running_loop().create_task(perform(job, self._job_seconds(pool, job), self._on_chunk))
        await asyncio.wait([job.task])
        if job.attempt != attempt or job.status != IN_PROGRESS or job.task is None:
            return  # cancelled, timed out or expired while running
        task, job.task = job.task, None
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, SimulatedFailure):
            self._finish(pool, job, FAILED, error=error_string(str(error), worker.id))
        elif error is not None:
            log.error("simulated job %s crashed", job.id, exc_info=error)
            self._finish(pool, job, FAILED, error=error_string(repr(error), worker.id))
        else:
            self._finish(pool, job, COMPLETED, output=task.result())

    def _job_seconds(self, pool: Pool, job: Job) -> float:
        if job.spec.seconds is not None:
            return job.spec.seconds
        return self.durations.uniform(*pool.config.job_seconds)

    def _on_chunk(self, job: Job, chunk: Any) -> None:
        job.chunks.append(chunk)
        self.counters["chunks_produced"] += 1
        job.notify()

    def _finish(self, pool: Pool, job: Job, status: str, *, output: Any = MISSING, error: str | None = None) -> None:
        job.status, job.output, job.error = status, output, error
        job.finished_at = self.clock.now()
        if job.started_real is not None:
            job.execution_ms = round((time.monotonic() - job.started_real) * 1000)
        job.expire_at = job.finished_at + job.retention
        if status == COMPLETED:
            pool.completed += 1
        elif status in (FAILED, TIMED_OUT):
            pool.failed += 1
        self.counters[f"jobs_{status.lower()}"] += 1
        self._schedule(job)
        job.notify()
        if job.webhook and status != CANCELLED:
            payload = {**job.status_object(), "input": job.input, "webhook": job.webhook}
            self.webhooks.send(job.webhook, payload)

    def _stop_task(self, job: Job) -> None:
        if job.task is not None:
            job.task.cancel()
            job.task = None

    # Deadlines

    def _schedule(self, job: Job) -> None:
        self._seq += 1
        job.deadline_seq = self._seq
        heapq.heappush(self.deadlines, (job.next_deadline(), self._seq, job))

    def _fire(self, job: Job, now: float) -> None:
        pool = self.pools.get(job.endpoint_id)
        if pool is None or pool.jobs.get(job.id) is not job:
            return
        if now >= job.ttl_end or (job.expire_at is not None and now >= job.expire_at):
            self._delete(pool, job)
        elif job.status == IN_PROGRESS and now >= job.started_at + job.policy.execution_timeout:
            if self.config.ignore_timeout:
                # Runs on: only its own end or its ttl stops it now.
                self._seq += 1
                job.deadline_seq = self._seq
                heapq.heappush(self.deadlines, (job.ttl_end, self._seq, job))
                return
            self._stop_task(job)
            self._finish(pool, job, TIMED_OUT, error="execution timeout exceeded")
        else:
            self._schedule(job)

    def _delete(self, pool: Pool, job: Job) -> None:
        if job.status == IN_QUEUE:
            pool.dequeue(job)
        self._stop_task(job)
        del pool.jobs[job.id]
        job.deleted = True
        job.notify()
        self.counters["jobs_expired"] += 1

    def tick(self) -> None:
        now = self.clock.now()
        for pool in self.pools.values():
            pool.autoscale(now)
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= now:
            _, seq, job = heapq.heappop(deadlines)
            if job.deadline_seq == seq and not job.deleted:
                self._fire(job, now)
        stored = sum(len(p.jobs) for p in self.pools.values())
        if len(deadlines) > 2 * stored + 1024:
            self.deadlines = [d for d in deadlines if d[2].deadline_seq == d[1] and not d[2].deleted]
            heapq.heapify(self.deadlines)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self.tick()
            except Exception:
                log.exception("simulator tick failed")

    # Reports

    def jobs_by_state(self) -> dict[str, dict[str, int]]:
        return {eid: dict(Counter(j.status for j in pool.jobs.values())) for eid, pool in self.pools.items()}
