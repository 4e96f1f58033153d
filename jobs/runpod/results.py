"""Typed answers: frozen dataclasses built leniently from whatever JSON RunPod sends.

Parsing tolerates missing and extra fields, numbers sent as strings or floats, and unknown states; every result
keeps the whole body in `raw`, so nothing RunPod said is lost. Only a body that is not a JSON object (or a
/run answer without a job id) is refused, with `BadResponseError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# Some docs say RUNNING; we report the documented name (STATUS_SYNONYMS) so callers see one spelling.
from ..constants import FINAL_STATES, QUEUED_STATES, RUNNING_STATES, STATUS_SYNONYMS
from ..constants import UNKNOWN as UNKNOWN_STATUS
from .errors import BadResponseError


def to_int(value: Any) -> int | None:
    """An integer from an int, a float or a numeric string; None for anything else (never raises)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def to_status(value: Any) -> str:
    """A state name as RunPod's documented upper-case spelling; unknown names pass through, absent is UNKNOWN."""
    text = value.strip().upper() if isinstance(value, str) else ""
    return STATUS_SYNONYMS.get(text, text) or UNKNOWN_STATUS


def _optional_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    # Some compatible servers send the error as an object; keep it readable as the JSON it was.
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class JobState:
    """One status object (/run, /runsync, /status, /status-sync, /cancel, /retry)."""

    id: str
    status: str
    delay_ms: int | None
    execution_ms: int | None
    output: Any
    has_output: bool  # the key was present (even as null); COMPLETED without it means the result was lost
    error: str | None
    worker_id: str | None
    retries: int | None
    raw: dict

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATES

    @property
    def is_queued(self) -> bool:
        return self.status in QUEUED_STATES

    @property
    def error_details(self) -> dict | None:
        """A FAILED job's error string decoded, when it is a JSON object (error_type, error_message, ...)."""
        if not self.error:
            return None
        try:
            details = json.loads(self.error)
        except ValueError:
            return None
        return details if isinstance(details, dict) else None


@dataclass(frozen=True)
class StreamBatch:
    """One /stream answer: the chunks produced since the previous call, in order."""

    status: str
    chunks: tuple[Any, ...]
    raw: dict

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES


@dataclass(frozen=True)
class Health:
    """One /health answer; every counter defaults to 0 when RunPod leaves it out."""

    jobs_completed: int
    jobs_failed: int
    jobs_in_progress: int
    jobs_in_queue: int
    jobs_retried: int
    workers_idle: int
    workers_initializing: int
    workers_ready: int
    workers_running: int
    workers_throttled: int
    workers_unhealthy: int
    raw: dict


@dataclass(frozen=True)
class PurgeResult:
    removed: int
    status: str
    raw: dict


HEALTH_FIELDS = {
    "jobs": {
        "jobs_completed": "completed",
        "jobs_failed": "failed",
        "jobs_in_progress": "inProgress",
        "jobs_in_queue": "inQueue",
        "jobs_retried": "retried",
    },
    "workers": {
        "workers_idle": "idle",
        "workers_initializing": "initializing",
        "workers_ready": "ready",
        "workers_running": "running",
        "workers_throttled": "throttled",
        "workers_unhealthy": "unhealthy",
    },
}


def parse_job_state(data: Any, *, operation: str, job_id: str | None = None) -> JobState:
    """A status object. The id falls back to the one we asked about; an answer with no id at all is refused."""
    data = _require_object(data, operation)
    ident = data.get("id")
    ident = str(ident) if ident not in (None, "") else job_id
    if not ident:
        raise BadResponseError("answer has no job id", operation=operation, body=json.dumps(data, default=str))
    return JobState(
        id=ident,
        status=to_status(data.get("status")),
        delay_ms=to_int(data.get("delayTime")),
        execution_ms=to_int(data.get("executionTime")),
        output=data.get("output"),
        has_output="output" in data,
        error=_optional_str(data.get("error")),
        worker_id=_optional_str(data.get("workerId")),
        retries=to_int(data.get("retries")),
        raw=data,
    )


def parse_stream(data: Any, *, operation: str = "stream") -> StreamBatch:
    """A /stream answer. The chunks are already drained from RunPod, so odd shapes are kept rather than refused."""
    data = _require_object(data, operation)
    items = data.get("stream")
    if items is None:
        items = []
    elif not isinstance(items, list):
        items = [items]
    chunks = tuple(item["output"] if isinstance(item, dict) and "output" in item else item for item in items)
    return StreamBatch(status=to_status(data.get("status")), chunks=chunks, raw=data)


def parse_health(data: Any, *, operation: str = "health") -> Health:
    data = _require_object(data, operation)
    values = {}
    for group, fields in HEALTH_FIELDS.items():
        section = data.get(group)
        section = section if isinstance(section, dict) else {}
        for name, key in fields.items():
            values[name] = to_int(section.get(key)) or 0
    return Health(**values, raw=data)


def parse_purge(data: Any, *, operation: str = "purge-queue") -> PurgeResult:
    data = _require_object(data, operation)
    status = data.get("status")
    return PurgeResult(removed=to_int(data.get("removed")) or 0, status=str(status or ""), raw=data)


def _require_object(data: Any, operation: str) -> dict:
    if not isinstance(data, dict):
        raise BadResponseError("answer is not a JSON object", operation=operation, body=json.dumps(data, default=str))
    return data
