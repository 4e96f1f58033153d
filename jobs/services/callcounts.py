"""Calls to an endpoint made by web processes (the RunPod-compatible proxy), counted per limit bucket and second.

The poller reserves its status calls on the Endpoint row, which only the holder of the endpoint's lease writes;
any number of web threads in any number of processes call RunPod too, so their calls go into EndpointCallCount
rows with atomic increments. The poller's budget subtracts these counts, and the proxy's subtracts the poller's,
so together they stay inside the endpoint's limit.
"""

import json
import math
import time

from django.db import connection
from django.db.models import F, Sum

from jobs.models import Endpoint, EndpointCallCount

# Whole seconds counted as "the last 10 s": the current one and the nine before it.
WINDOW_SECONDS = 10
# Rows older than this are deleted, by each process at most every PRUNE_EVERY seconds.
KEEP_SECONDS = 60
PRUNE_EVERY = 30
_pruned: dict = {}


def calls_used(endpoint_id, bucket: str, *, now_ts=None) -> int:
    """Calls counted for the bucket in the last WINDOW_SECONDS whole seconds."""
    now_s = int(now_ts if now_ts is not None else time.time())
    total = EndpointCallCount.objects.filter(
        endpoint_id=endpoint_id, bucket=bucket, second__gt=now_s - WINDOW_SECONDS
    ).aggregate(total=Sum("count"))["total"]
    return total or 0


def calls_take(endpoint_id, bucket: str, *, now_ts=None, with_reserved: bool = False) -> int:
    """Count one call in the current second; returns the bucket's calls in the window, this one included.

    One upsert (and on PostgreSQL the window's sum in the same statement): this runs on every proxied call. With
    `with_reserved`, the status calls the poller reserved on the Endpoint row are added, read in that statement too.
    """
    second = int(now_ts if now_ts is not None else time.time())
    table = connection.ops.quote_name(EndpointCallCount._meta.db_table)
    upsert = (
        f"INSERT INTO {table} (endpoint_id, bucket, second, count) VALUES (%s, %s, %s, 1) "  # noqa: S608 - our table
        f"ON CONFLICT (endpoint_id, bucket, second) DO UPDATE SET count = {table}.count + 1"
    )
    reserved = None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            endpoints = connection.ops.quote_name(Endpoint._meta.db_table)
            # A count is worth something for 10 s: when the statement is its own transaction, its commit does not
            # wait for the WAL to reach the disk (on a busy disk that wait was most of the time a proxied call
            # added). A crash can lose the last few counts, never a job; inside a caller's transaction, the
            # caller's commit is left as it is.
            no_flush = "" if connection.in_atomic_block else ", set_config('synchronous_commit', 'off', true)"
            # The sum reads the table as it was before the upsert, so the call itself is added on top.
            cursor.execute(
                f"WITH up AS ({upsert} RETURNING 1) SELECT COALESCE(SUM(count), 0) + 1, "  # noqa: S608
                f"(SELECT status_calls::text FROM {endpoints} WHERE id = %s AND %s){no_flush} FROM {table} "
                "WHERE endpoint_id = %s AND bucket = %s AND second > %s",
                [endpoint_id, bucket, second, endpoint_id, with_reserved, endpoint_id, bucket, second - WINDOW_SECONDS],
            )
            used, reserved = cursor.fetchone()[:2]
            reserved = json.loads(reserved) if reserved else None
        else:
            cursor.execute(upsert, [endpoint_id, bucket, second])
            used = None
    _prune(endpoint_id, second)
    if used is None:
        used = calls_used(endpoint_id, bucket, now_ts=second)
        if with_reserved:
            reserved = Endpoint.objects.filter(pk=endpoint_id).values_list("status_calls", flat=True).order_by().first()
    return int(used) + window_counts(reserved, now_ts=second)


def calls_add(endpoint_id, bucket: str, n: int, *, now_ts=None) -> None:
    """Add n (usually -1, to give back a refused call) to the current second's count."""
    second = int(now_ts if now_ts is not None else time.time())
    EndpointCallCount.objects.filter(endpoint_id=endpoint_id, bucket=bucket, second=second).update(count=F("count") + n)


def _prune(endpoint_id, second) -> None:
    """Delete an endpoint's old rows, at most once per PRUNE_EVERY seconds per process."""
    last = _pruned.get(endpoint_id)
    if last is not None and second - last < PRUNE_EVERY:
        return
    _pruned[endpoint_id] = second
    EndpointCallCount.objects.filter(endpoint_id=endpoint_id, second__lt=second - KEEP_SECONDS).delete()


def window_counts(counts: dict, *, now_ts=None) -> int:
    """The sum of an Endpoint.status_calls-style {second: count} mapping over the last WINDOW_SECONDS seconds."""
    now_s = int(now_ts if now_ts is not None else time.time())
    return sum(n for second, n in (counts or {}).items() if int(second) > now_s - WINDOW_SECONDS)


def retry_after_seconds(endpoint_id, bucket: str, *, now_ts=None) -> int:
    """Whole seconds until the oldest counted second leaves the window (at least 1)."""
    now_ts = now_ts if now_ts is not None else time.time()
    oldest = (
        EndpointCallCount.objects.filter(
            endpoint_id=endpoint_id, bucket=bucket, second__gt=int(now_ts) - WINDOW_SECONDS, count__gt=0
        )
        .order_by("second")
        .values_list("second", flat=True)
        .first()
    )
    if oldest is None:
        return 1
    return max(1, math.ceil(oldest + WINDOW_SECONDS - now_ts))
