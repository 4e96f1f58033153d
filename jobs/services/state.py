"""The job state machine: the one place a job's status is written, and what each answer or action does to it.

`job_transition` is the only write of `Job.status` (`jobs_transition` its batched form for the poller's
PostgreSQL store path): poll, stream, 404, send, cancel, retry, run again (a new job, sent like any other) and the
webhook all go through it. Every write is conditional on the status we read (`filter(status=old).update(...)`), so
two pollers that read the same answer cannot both record the transition, and a stale answer cannot move a job
backwards. Which columns a move writes with the status is decided here too: `state_fields` for a status object
(a COMPLETED answer's output, finish time and archive), `job_apply_stream_status` for a /stream answer,
`retry_fields` for a retry.
"""

import json
import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs.constants import (
    COMPLETED,
    GONE_EVENTS,
    IN_PROGRESS,
    IN_QUEUE,
    STATUS_MAX_LENGTH,
    STATUS_SYNONYMS,
    UNKNOWN,
    WORKER_ID_MAX_LENGTH,
    is_final,
)
from jobs.models import Job, StatusTransition

from .storable import BIGINT_RANGE, POSITIVE_INT_RANGE, storable_int, storable_json, storable_text

logger = logging.getLogger(__name__)

# RunPod keeps a finished job's result this long (runpod-api.md, Retention).
RUN_RETENTION = timedelta(minutes=30)
RUNSYNC_RETENTION = timedelta(seconds=60)
DEFAULT_TTL = timedelta(hours=24)


def normalise_status(status: str) -> str:
    # Longer values from RunPod are cut to the column's size rather than refused by the database.
    status = (status or "").strip().upper() or UNKNOWN
    return storable_text(STATUS_SYNONYMS.get(status, status), STATUS_MAX_LENGTH)


def parse_error(raw):
    """RunPod's error is a string, often itself JSON with error_type, error_message, error_traceback."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def retention_for(job: Job) -> timedelta:
    return RUNSYNC_RETENTION if job.mode == Job.Mode.RUNSYNC else RUN_RETENTION


def ttl_for(job: Job) -> timedelta:
    ttl_ms = (job.policy or {}).get("ttl")
    if isinstance(ttl_ms, int | float) and ttl_ms > 0:
        return timedelta(milliseconds=ttl_ms)
    return DEFAULT_TTL


def next_poll_delay(job: Job, status: str, now) -> float:
    """Seconds until the next poll: running jobs often, long-queued ones less, runsync ones always soon."""
    endpoint = job.endpoint
    if job.streaming and not is_final(status):
        return 0.0  # the /stream call itself waits for chunks
    if status == IN_QUEUE:
        queued_for = (now - (job.submitted_at or job.created_at)).total_seconds()
        delay = min(max(endpoint.poll_queued_seconds, queued_for / 10), endpoint.poll_queued_max_seconds)
        if job.mode == Job.Mode.RUNSYNC:
            delay = min(delay, 5.0)  # its result will live only 60 s
        return delay
    return endpoint.poll_running_seconds


# --- The one write ---------------------------------------------------------------------------------------------


def job_transition(job: Job, to: str, *, source: str, now=None, **fields) -> bool:
    """Move the job to status `to`, writing `fields` with it. Returns False when another writer got there first.

    1. Update the row only if its status is still the one we read.
    2. Mirror the written columns on `job`.
    3. Add a transition row when the status changed. `to` may also be EXPIRED or NOT_FOUND (RunPod forgot the
       job): the row records it, the status column keeps what RunPod last reported, and an archived job (which has
       all RunPod had) is left alone.
    """
    now = now or timezone.now()
    old = job.status
    rows = Job.objects.filter(pk=job.pk, status=old)
    if to in GONE_EVENTS:
        rows = rows.filter(archived=False)
    else:
        fields["status"] = to
    # One transaction: a process killed between the two writes must not leave a status without its transition.
    with transaction.atomic():
        if not rows.update(**fields):
            return False
        if to != old:
            StatusTransition.objects.create(job=job, from_status=old, to_status=to, at=now, source=source)
    for name, value in fields.items():
        setattr(job, name, value)
    return True


def jobs_transition(moves, *, source: str, now) -> list[bool]:
    """job_transition for many (job, to, fields) moves at once, on PostgreSQL; True where the move was written.

    A poller stores hundreds of answers a second and each statement is a round trip, so every job's columns go
    into one `UPDATE ... FROM jsonb_to_recordset(...)` per set of columns, each row still conditional on the status
    we read, and `RETURNING` tells which rows won, so only they get their transition (one insert for all).
    Only once committed do the in-memory jobs take their new values, as with job_transition.
    """
    groups: dict[tuple, list] = {}
    for job, to, fields in moves:
        fields["status"] = to
        groups.setdefault(tuple(sorted(fields)), []).append((job, fields))
    with transaction.atomic():
        won: set[int] = set()
        for names, rows in groups.items():
            won |= _update_rows(names, rows)
        StatusTransition.objects.bulk_create(
            StatusTransition(job=job, from_status=job.status, to_status=to, at=now, source=source)
            for job, to, _ in moves
            if job.pk in won and to != job.status
        )
    applied = []
    for job, _, fields in moves:
        applied.append(job.pk in won)
        if job.pk in won:
            for name, value in fields.items():
                setattr(job, name, value)
    return applied


def _update_rows(names, rows) -> set[int]:
    """UPDATE the rows' columns where each row's status is still the one we read; returns the ids written.

    The rows travel as one JSON document read by jsonb_to_recordset: a single parameter keeps the statement
    short, where thousands of placeholders would cost more to prepare than to run.
    """
    columns = [Job._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table = quote(Job._meta.db_table)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    types = ", ".join(
        ["id bigint", "old_status text", *(f"{quote(f.column)} {f.db_type(connection)}" for f in columns)]
    )
    sql = (
        f"UPDATE {table} SET {assignments} FROM jsonb_to_recordset(%s::jsonb) AS v({types}) "  # noqa: S608 - names from the model
        f"WHERE {table}.id = v.id AND {table}.status = v.old_status RETURNING {table}.id"
    )
    records = [
        {"id": job.pk, "old_status": job.status, **{f.column: fields[f.name] for f in columns}} for job, fields in rows
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(records, default=_json_default)])
        return {row[0] for row in cursor.fetchall()}


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a job column")


# --- What an answer from RunPod does -------------------------------------------------------------------------


def reported_times(job: Job, status: str, *, now) -> dict:
    """The times a status RunPod reported sets, each once: first seen, started, finished."""
    fields = {}
    if job.seen_at is None:
        fields["seen_at"] = now
    if status == IN_PROGRESS and job.started_at is None:
        fields["started_at"] = now
    if is_final(status):
        fields["finished_at"] = job.finished_at or now
    return fields


def state_fields(job: Job, state, *, now) -> dict:
    """The column values a status object implies for this job, status included (no writes)."""
    status = normalise_status(state.status)
    fields = {"status": status, "last_raw": storable_json(state.raw), "last_polled_at": now, "poll_failures": 0}
    fields.update(reported_times(job, status, now=now))
    for column, bounds in (("delay_ms", BIGINT_RANGE), ("execution_ms", BIGINT_RANGE), ("retries", POSITIVE_INT_RANGE)):
        value = storable_int(getattr(state, column, None), bounds)
        if value is not None:
            fields[column] = value
    if state.worker_id:
        fields["worker_id"] = storable_text(state.worker_id, WORKER_ID_MAX_LENGTH)
    if state.error:
        fields["error_raw"] = storable_text(state.error if isinstance(state.error, str) else json.dumps(state.error))
        fields["error"] = storable_json(parse_error(state.error))
    if is_final(status):
        fields.update(_final_fields(job, state, status, now, fields["finished_at"]))
    else:
        if state.has_output:
            fields["progress"] = storable_json(state.output)
        fields["expires_at"] = (job.submitted_at or job.created_at) + ttl_for(job)
        fields["next_poll_at"] = now + timedelta(seconds=next_poll_delay(job, status, now))
    return fields


def _final_fields(job: Job, state, status: str, now, finished_at) -> dict:
    """A final status object: the output is archived and polling ends (a job becomes COMPLETED with these)."""
    fields = {
        "expires_at": finished_at + retention_for(job),
        "output": storable_json(state.output) if state.has_output else None,
        "has_output": bool(state.has_output),
        "completed_without_output": status == COMPLETED and not state.has_output,
        "next_poll_at": None,
        "archived": True,
        "archived_at": job.archived_at or now,
        "expired": False,
    }
    if job.streaming and not is_final(job.status):
        # A streaming job's final /stream answer carries no output or timings: fetch the status object once more.
        fields.update(archived=False, archived_at=None, next_poll_at=now)
    return fields


def _answer_fields(job: Job, state, now) -> dict:
    fields = state_fields(job, state, now=now)
    fields.update(lease_until=None, lease_token="")
    return fields


def job_apply_state(job: Job, state, *, source: str, now=None) -> bool:
    """Record a status object for the job (and release its poll lease). False when another writer got there first."""
    now = now or timezone.now()
    fields = _answer_fields(job, state, now)
    return job_transition(job, fields.pop("status"), source=source, now=now, **fields)


def jobs_apply_states(pairs, *, source: str, now=None) -> list[bool]:
    """job_apply_state for a batch of (job, status object) pairs; True where the answer was recorded.

    On PostgreSQL the batch is written by jobs_transition, a few statements for all. If the database refuses the
    batch (one bad value), each job is written on its own so the others are not held back.
    """
    now = now or timezone.now()
    if connection.vendor != "postgresql" or len(pairs) < 2:
        return _apply_each(pairs, source=source, now=now)
    moves = []
    for job, state in pairs:
        fields = _answer_fields(job, state, now)
        moves.append((job, fields.pop("status"), fields))
    try:
        return jobs_transition(moves, source=source, now=now)
    except DatabaseError:
        logger.exception("storing %s answers at once failed; storing them one by one", len(pairs))
        return _apply_each(pairs, source=source, now=now)


def _apply_each(pairs, *, source, now) -> list[bool]:
    applied = []
    for job, state in pairs:
        try:
            with transaction.atomic():
                applied.append(job_apply_state(job, state, source=source, now=now))
        except DatabaseError:
            # Left leased: the next poll after the lease runs out tries again.
            logger.exception("could not store the answer for job %s", job.pk)
            applied.append(False)
    return applied


def job_apply_stream_status(job: Job, reported: str, *, now) -> bool:
    """Record the status a /stream answer carried (its chunks are stored already); True when it changed.

    Draining goes on at once; a final status is followed by one /status call for the output and timings.
    """
    status = normalise_status(reported)
    fields = {"last_polled_at": now, "lease_until": None, "lease_token": "", "poll_failures": 0, "next_poll_at": now}
    if status == job.status and not is_final(status):
        Job.objects.filter(pk=job.pk).update(**fields)
        return False
    return job_transition(job, status, source="stream", now=now, **fields, **reported_times(job, status, now=now))


# --- What we decide ----------------------------------------------------------------------------------------------


def retry_fields(now) -> dict:
    """A retried job starts over at RunPod under the same id: the last attempt's result and times are cleared
    (the retry's audit entry keeps them) and it is polled at once."""
    return {
        "output": None,
        "has_output": False,
        "error_raw": "",
        "error": None,
        "archived": False,
        "archived_at": None,
        "finished_at": None,
        "started_at": None,
        "completed_without_output": False,
        "next_poll_at": now,
        "expires_at": now + DEFAULT_TTL,
    }
