"""Building requests: one `Call` per operation, shared by the sync and async clients.

A `Call` is everything needed to send a request and to judge its failure (method, path, body bytes, read
timeout, whether it is safe to resend) but nothing about the connection or the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import BadRequestError

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
RUN_MAX_BYTES = 10 * 1024 * 1024
RUNSYNC_MAX_BYTES = 20 * 1024 * 1024

# RunPod clamps `wait` to this range; we clamp too, so our read timeout matches the wait actually used.
WAIT_MIN_MS = 1_000
WAIT_MAX_MS = 300_000
# What /runsync waits when no `wait` is given; assumed for /status-sync and /stream too, which do not say.
DEFAULT_WAIT_MS = 90_000
# A long poll answers at the end of its wait; the read timeout allows this much on top for the trip.
WAIT_MARGIN_SECONDS = 10.0

# Operations that may be sent again after an unclear failure: reading, or an action whose repeat is harmless.
# /run, /runsync and /retry are not: a second /run is a second job.
IDEMPOTENT_OPERATIONS = frozenset({"status", "status-sync", "stream", "health", "cancel", "purge-queue"})


class Secret:
    """A string that does not show itself in repr(), str() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Call:
    """One request to one endpoint, ready to send."""

    operation: str
    method: str
    path: str  # below the endpoint, already quoted: "/status/abc"
    params: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    job_id: str | None = None
    wait_ms: int | None = None  # set for long polls; the read timeout follows it
    # Strings that must not be echoed back through an error body (s3Config values).
    secrets: tuple[str, ...] = ()

    @property
    def idempotent(self) -> bool:
        return self.operation in IDEMPOTENT_OPERATIONS

    def read_timeout(self, timeout: float) -> float:
        if self.wait_ms is None:
            return timeout
        return max(timeout, self.wait_ms / 1000 + WAIT_MARGIN_SECONDS)


def encode_body(body: dict) -> bytes:
    """The exact bytes we send: compact JSON in UTF-8. Raises TypeError or ValueError (NaN) like json.dumps."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def payload_size(body: dict) -> int:
    """Size in bytes of a request body as the client would send it; compare with RUN_MAX_BYTES / RUNSYNC_MAX_BYTES."""
    return len(encode_body(body))


def submit_body(input: Any, *, webhook=None, policy=None, s3_config=None) -> dict:
    """The /run and /runsync body; empty options are left out rather than sent as null."""
    body: dict[str, Any] = {"input": input}
    if webhook:
        body["webhook"] = webhook
    if policy:
        body["policy"] = policy
    if s3_config:
        body["s3Config"] = s3_config
    return body


def clamp_wait(wait_ms: int | None) -> int:
    if wait_ms is None:
        return DEFAULT_WAIT_MS
    return max(WAIT_MIN_MS, min(WAIT_MAX_MS, int(wait_ms)))


def quote_segment(value: str) -> str:
    """One path segment, whatever it holds: `a/b?c` stays one segment and cannot reach another route."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        # "." and ".." would be folded away by URL normalisation, so they cannot name a job.
        raise ValueError(f"not a usable id: {value!r}")
    return quote(value, safe="")


def secret_strings(value: Any) -> tuple[str, ...]:
    """Every string leaf of an s3Config (long enough to be worth hiding), for scrubbing error bodies."""
    if isinstance(value, str):
        return (value,) if len(value) >= 4 else ()
    if isinstance(value, dict):
        return tuple(s for v in value.values() for s in secret_strings(v))
    if isinstance(value, list | tuple):
        return tuple(s for v in value for s in secret_strings(v))
    return ()


def submit_call(operation: str, body: dict, *, wait_ms: int | None = None, s3_config=None) -> Call:
    """A /run or /runsync call; the body is encoded here so its size check and the sent bytes are one and the same.

    /runsync always states its wait, so the read timeout we set matches the wait the server uses.
    """
    wait = clamp_wait(wait_ms) if operation == "runsync" else None
    return Call(
        operation=operation,
        method="POST",
        path=f"/{operation}",
        params={"wait": wait} if wait is not None else {},
        content=encode_body(body),
        wait_ms=wait,
        secrets=secret_strings(s3_config),
    )


def job_call(operation: str, job_id: str, *, method: str = "GET", params=None, wait_ms=None) -> Call:
    try:
        segment = quote_segment(job_id)
    except ValueError as exc:
        raise BadRequestError(f"{operation}: {exc}", operation=operation) from None
    return Call(
        operation=operation,
        method=method,
        path=f"/{operation}/{segment}",
        params=params or {},
        job_id=job_id,
        wait_ms=wait_ms,
    )


def status_call(job_id: str, *, ttl_ms: int | None = None) -> Call:
    return job_call("status", job_id, params={"ttl": int(ttl_ms)} if ttl_ms is not None else None)


def wait_call(operation: str, job_id: str, *, wait_ms: int | None = None) -> Call:
    """/status-sync and /stream: a GET that may be held open for `wait`, which is always stated."""
    wait = clamp_wait(wait_ms)
    return job_call(operation, job_id, params={"wait": wait}, wait_ms=wait)


def endpoint_call(operation: str, method: str) -> Call:
    """/health and /purge-queue: about the endpoint, not a job."""
    return Call(operation=operation, method=method, path=f"/{operation}")
