"""The job state machine: what a status object from RunPod does to our record, in one place.

Every write is conditional on the status we read (`filter(status=old).update(...)`), so two pollers that read
the same answer cannot both record the transition, and a stale answer cannot move a job backwards.
"""

import json
import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs.models import Job, StatusTransition, is_final

from .storable import BIGINT_RANGE, POSITIVE_INT_RANGE, storable_int, storable_json, storable_text

logger = logging.getLogger(__name__)

# RunPod keeps a finished job's result this long (runpod-api.md, Retention).
RUN_RETENTION = timedelta(minutes=30)
RUNSYNC_RETENTION = timedelta(seconds=60)
DEFAULT_TTL = timedelta(hours=24)
# Some documents say RUNNING; we store the documented name.
STATUS_SYNONYMS = {"RUNNING": "IN_PROGRESS"}
# Column sizes (see the model): longer values from RunPod are cut to fit rather than refused by the database.
STATUS_MAX_LENGTH = 40
WORKER_ID_MAX_LENGTH = 200


def normalise_status(status: str) -> str:
    status = (status or "").strip().upper() or "UNKNOWN"
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
    if status == "IN_QUEUE":
        queued_for = (now - (job.submitted_at or job.created_at)).total_seconds()
        delay = min(max(endpoint.poll_queued_seconds, queued_for / 10), endpoint.poll_queued_max_seconds)
        if job.mode == Job.Mode.RUNSYNC:
            delay = min(delay, 5.0)  # its result will live only 60 s
        return delay
    return endpoint.poll_running_seconds


def state_fields(job: Job, state, *, now) -> dict:
    """The column values a status object implies for this job (no writes)."""
    status = normalise_status(state.status)
    fields = {"status": status, "last_raw": storable_json(state.raw), "last_polled_at": now, "poll_failures": 0}
    if job.seen_at is None:
        fields["seen_at"] = now
    for column, bounds in (("delay_ms", BIGINT_RANGE), ("execution_ms", BIGINT_RANGE), ("retries", POSITIVE_INT_RANGE)):
        value = storable_int(getattr(state, column, None), bounds)
        if value is not None:
            fields[column] = value
    if state.worker_id:
        fields["worker_id"] = storable_text(state.worker_id, WORKER_ID_MAX_LENGTH)
    if state.error:
        fields["error_raw"] = storable_text(state.error if isinstance(state.error, str) else json.dumps(state.error))
        fields["error"] = storable_json(parse_error(state.error))
    if status == "IN_PROGRESS" and job.started_at is None:
        fields["started_at"] = now
    if is_final(status):
        fields.update(_final_fields(job, state, status, now))
    else:
        if state.has_output:
            fields["progress"] = storable_json(state.output)
        fields["expires_at"] = (job.submitted_at or job.created_at) + ttl_for(job)
        fields["next_poll_at"] = now + timedelta(seconds=next_poll_delay(job, status, now))
    return fields


def _final_fields(job: Job, state, status: str, now) -> dict:
    fields = {
        "finished_at": job.finished_at or now,
        "expires_at": (job.finished_at or now) + retention_for(job),
        "output": storable_json(state.output) if state.has_output else None,
        "has_output": bool(state.has_output),
        "completed_without_output": status == "COMPLETED" and not state.has_output,
        "next_poll_at": None,
        "archived": True,
        "archived_at": job.archived_at or now,
        "expired": False,
    }
    if job.streaming and not is_final(job.status):
        # A streaming job's final /stream answer carries no output or timings: fetch the status object once more.
        fields.update(archived=False, archived_at=None, next_poll_at=now)
    return fields


def job_apply_state(job: Job, state, *, source: str, now=None) -> bool:
    """Record a status object for the job. Returns False when another writer got there first.

    1. Compute the new columns from the answer.
    2. Update the row only if its status is still the one we read.
    3. Add a transition row when the status changed.
    """
    now = now or timezone.now()
    fields = state_fields(job, state, now=now)
    fields.update(lease_until=None, lease_token="")
    if not Job.objects.filter(pk=job.pk, status=job.status).update(**fields):
        return False
    old = job.status
    for name, value in fields.items():
        setattr(job, name, value)
    if fields["status"] != old:
        StatusTransition.objects.create(job=job, from_status=old, to_status=fields["status"], at=now, source=source)
    return True


def job_set_status(job: Job, status: str, *, source: str, now=None, **extra) -> bool:
    """A status change we caused or decided (submit, cancel, retry, expiry), written the same careful way."""
    now = now or timezone.now()
    fields = {"status": status, **extra}
    if not Job.objects.filter(pk=job.pk, status=job.status).update(**fields):
        return False
    old = job.status
    for name, value in fields.items():
        setattr(job, name, value)
    if status != old:
        StatusTransition.objects.create(job=job, from_status=old, to_status=status, at=now, source=source)
    return True


def jobs_apply_states(pairs, *, source: str, now=None) -> list[bool]:
    """job_apply_state for a batch of (job, status object) pairs; True where the answer was recorded.

    On PostgreSQL the rows are written a few statements per batch rather than one per job (a poller stores
    hundreds of answers a second, and each statement is a round trip): every job's columns go into one
    `UPDATE ... FROM jsonb_to_recordset(...)` per set of columns, each row still conditional on the status we read, and
    `RETURNING` tells which rows won, so only they get their transition. If the database refuses the batch (one
    bad value), each job is written on its own so the others are not held back.
    """
    now = now or timezone.now()
    if connection.vendor != "postgresql" or len(pairs) < 2:
        return _apply_each(pairs, source=source, now=now)
    try:
        with transaction.atomic():
            winners = _apply_bulk(pairs, source=source, now=now)
    except DatabaseError:
        logger.exception("storing %s answers at once failed; storing them one by one", len(pairs))
        return _apply_each(pairs, source=source, now=now)
    # Only once committed do the in-memory jobs take their new values, as job_apply_state does.
    applied = [False] * len(pairs)
    for index, job, fields in winners:
        applied[index] = True
        for name, value in fields.items():
            setattr(job, name, value)
    return applied


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


def _apply_bulk(pairs, *, source, now) -> list[tuple]:
    """1. Compute every job's columns. 2. One conditional UPDATE per set of columns. 3. Transitions for winners."""
    groups: dict[tuple, list] = {}
    for index, (job, state) in enumerate(pairs):
        fields = state_fields(job, state, now=now)
        fields.update(lease_until=None, lease_token="")
        groups.setdefault(tuple(sorted(fields)), []).append((index, job, fields))
    won: set[int] = set()
    for names, rows in groups.items():
        won |= _update_rows(names, [(job, fields) for _, job, fields in rows])
    winners = [row for rows in groups.values() for row in rows if row[1].pk in won]
    StatusTransition.objects.bulk_create(
        StatusTransition(job=job, from_status=job.status, to_status=fields["status"], at=now, source=source)
        for _, job, fields in winners
        if fields["status"] != job.status
    )
    return winners


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
