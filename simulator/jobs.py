"""One job: its state, what `input.simulate` asks of it, and how it looks in RunPod's status object."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
FINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})
MISSING = object()  # a job with no output is not the same as a job whose output is null

RUN_RETENTION = 30 * 60.0
RUNSYNC_RETENTION = 60.0
DEFAULT_TTL = 24 * 3600.0
DEFAULT_EXECUTION_TIMEOUT = 600.0
MIN_TTL, MIN_EXECUTION_TIMEOUT, MAX_POLICY = 10.0, 5.0, 7 * 24 * 3600.0
FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit; "
SIMULATE_KEYS = {"seconds", "fail", "stream", "interval", "output_bytes", "progress", "no_output"}


class InputError(ValueError):
    """The request body cannot become a job (answered 400)."""


@dataclass(frozen=True)
class JobSpec:
    """What a job does, from `input.simulate`; durations are real seconds."""

    seconds: float | None = None
    fail: str | None = None
    stream: int = 0
    interval: float | None = None
    output_bytes: int | None = None
    progress: bool = False
    no_output: bool = False

    @classmethod
    def from_input(cls, job_input: Any) -> JobSpec:
        raw = job_input.get("simulate") if isinstance(job_input, dict) else None
        if raw is None:
            return cls()
        if not isinstance(raw, dict) or set(raw) - SIMULATE_KEYS:
            raise InputError(f"input.simulate must be an object with keys among {sorted(SIMULATE_KEYS)}")
        try:
            spec = cls(
                seconds=_opt(float, raw.get("seconds")),
                fail=_failure(raw.get("fail")),
                stream=int(raw.get("stream") or 0),
                interval=_opt(float, raw.get("interval")),
                output_bytes=_opt(int, raw.get("output_bytes")),
                progress=bool(raw.get("progress")),
                no_output=bool(raw.get("no_output")),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad input.simulate: {exc}") from exc
        if min(spec.seconds or 0, spec.stream, spec.interval or 0, spec.output_bytes or 0) < 0:
            raise InputError("input.simulate values must not be negative")
        return spec


@dataclass(frozen=True)
class Policy:
    """RunPod's `policy` in RunPod seconds."""

    execution_timeout: float = DEFAULT_EXECUTION_TIMEOUT
    ttl: float = DEFAULT_TTL
    low_priority: bool = False

    @classmethod
    def from_body(cls, raw: Any) -> Policy:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InputError("policy must be an object")
        try:
            timeout = float(raw.get("executionTimeout", DEFAULT_EXECUTION_TIMEOUT * 1000)) / 1000
            ttl = float(raw.get("ttl", DEFAULT_TTL * 1000)) / 1000
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad policy: {exc}") from exc
        if not MIN_EXECUTION_TIMEOUT <= timeout <= MAX_POLICY:
            raise InputError("policy.executionTimeout must be 5000..604800000 ms")
        if not MIN_TTL <= ttl <= MAX_POLICY:
            raise InputError("policy.ttl must be 10000..604800000 ms")
        return cls(execution_timeout=timeout, ttl=ttl, low_priority=bool(raw.get("lowPriority")))


class Job:
    """A job's whole life. Times named *_at are RunPod time; *_real are wall-clock monotonic seconds."""

    __slots__ = (
        "_event",
        "attempt",
        "chunks",
        "deadline_seq",
        "delay_ms",
        "deleted",
        "endpoint_id",
        "error",
        "execution_ms",
        "expire_at",
        "finished_at",
        "id",
        "input",
        "output",
        "policy",
        "queued_at",
        "queued_real",
        "retention",
        "retries",
        "s3_config",
        "spec",
        "started_at",
        "started_real",
        "status",
        "submitted_at",
        "sync",
        "task",
        "webhook",
        "worker_id",
    )

    def __init__(self, job_id: str, endpoint_id: str, body: dict[str, Any], *, sync: bool, now: float, real: float):
        if not isinstance(body, dict) or "input" not in body:
            raise InputError('the body must be a JSON object with an "input"')
        webhook = body.get("webhook")
        if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
            raise InputError("webhook must be an http(s) URL")
        self.id, self.endpoint_id, self.input, self.sync = job_id, endpoint_id, body["input"], sync
        self.spec = JobSpec.from_input(self.input)
        self.policy = Policy.from_body(body.get("policy"))
        self.webhook, self.s3_config = webhook, body.get("s3Config")
        self.retention = RUNSYNC_RETENTION if sync else RUN_RETENTION
        self.submitted_at, self.retries, self.deadline_seq, self.deleted = now, 0, -1, False
        self._event: asyncio.Event | None = None
        self.attempt = 0
        self.requeue(now, real)

    def requeue(self, now: float, real: float) -> None:
        self.status, self.queued_at, self.queued_real, self.attempt = IN_QUEUE, now, real, self.attempt + 1
        self.output, self.error, self.worker_id, self.task = MISSING, None, None, None
        self.delay_ms = self.execution_ms = self.started_at = self.started_real = None
        self.finished_at = self.expire_at = None
        self.chunks: deque[Any] | None = deque() if self.spec.stream else None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def ttl_end(self) -> float:
        return self.submitted_at + self.policy.ttl

    def next_deadline(self) -> float:
        """The next RunPod time at which something must happen to this job."""
        when = self.ttl_end
        if self.status == IN_PROGRESS:
            when = min(when, self.started_at + self.policy.execution_timeout)
        elif self.expire_at is not None:
            when = min(when, self.expire_at)
        return when

    def changed(self) -> asyncio.Event:
        """An event set at the job's next change (state, progress or a new chunk)."""
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def status_object(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.delay_ms is not None:
            data["delayTime"] = self.delay_ms
        if self.execution_ms is not None:
            data["executionTime"] = self.execution_ms
        if self.output is not MISSING:
            data["output"] = self.output
        if self.error is not None:
            data["error"] = self.error
        if self.worker_id is not None:
            data["workerId"] = self.worker_id
        if self.retries:
            data["retries"] = self.retries
        return data

    def stream_object(self) -> dict[str, Any]:
        """Drains the chunks produced since the last call: RunPod's stream does not replay."""
        chunks = self.chunks or ()
        data: dict[str, Any] = {"id": self.id, "status": self.status, "stream": [{"output": c} for c in chunks]}
        if self.chunks:
            self.chunks.clear()
        if self.delay_ms is not None:
            data["delayTime"] = self.delay_ms
        return data


async def perform(job: Job, seconds: float, on_chunk: Callable[[Job, Any], None]) -> Any:
    """The handler's work; returns the output (MISSING for none) or raises SimulatedFailure."""
    spec = job.spec
    if spec.stream:
        outputs = await _generate(job, spec, seconds, on_chunk)
    else:
        await _work(job, spec, seconds)
        outputs = None
    if spec.fail is not None:
        raise SimulatedFailure(spec.fail)
    if spec.no_output:
        return MISSING
    if outputs is not None:
        return outputs
    if spec.output_bytes is not None:
        return {"data": filler(spec.output_bytes)}
    return job.input


async def _generate(job: Job, spec: JobSpec, seconds: float, on_chunk: Callable[[Job, Any], None]) -> list[Any]:
    interval = spec.interval if spec.interval is not None else (seconds / spec.stream if spec.seconds else 0.5)
    outputs = []
    for index in range(spec.stream):
        await sleep_real(interval)
        text = filler(spec.output_bytes) if spec.output_bytes is not None else f"chunk {index}"
        chunk = {"index": index, "text": text}
        outputs.append(chunk)
        on_chunk(job, chunk)
    return outputs


async def _work(job: Job, spec: JobSpec, seconds: float) -> None:
    if not spec.progress:
        await sleep_real(seconds)
        return
    steps = max(1, round(seconds / spec.interval)) if spec.interval else 5
    for step in range(1, steps + 1):
        await sleep_real(seconds / steps)
        if step < steps:
            job.output = {"progress": round(step / steps, 3), "message": f"step {step} of {steps}"}
            job.notify()


async def sleep_real(seconds: float) -> None:
    """Sleeps at least `seconds` of wall-clock time.

    The event loop's timers count from its cached clock, which can lag behind, so a bare sleep may end a little
    early; a job that asked for 0.05 s must never report an executionTime under 50 ms.
    """
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(left)


class SimulatedFailure(Exception):
    """The handler raised: becomes a FAILED job whose error is RunPod's JSON error string."""


def error_string(reason: str, worker_id: str | None) -> str:
    return json.dumps(
        {
            "error_type": "<class 'RuntimeError'>",
            "error_message": reason,
            "error_traceback": (
                'Traceback (most recent call last):\n  File "/handler.py", line 12, in handler\n'
                f"    raise RuntimeError({reason!r})\nRuntimeError: {reason}\n"
            ),
            "hostname": worker_id,
            "worker_id": worker_id,
            "runpod_version": "1.12.0",
        }
    )


def filler(size: int) -> str:
    return (FILLER * (size // len(FILLER) + 1))[:size]


def _opt(kind: type, value: Any) -> Any:
    return None if value is None else kind(value)


def _failure(value: Any) -> str | None:
    if value is None or value is False:
        return None
    return "simulated failure" if value is True else str(value)
