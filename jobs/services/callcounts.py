"""Calls to an endpoint made by web processes (the RunPod-compatible proxy), counted per limit bucket and second.

The poller reserves its status calls on the Endpoint row, which only the holder of the endpoint's lease writes;
any number of web threads in any number of processes call RunPod too, so their calls go into EndpointCallCount
rows with atomic increments. The poller's budget subtracts these counts, and the proxy's subtracts the poller's,
so together they stay inside the endpoint's limit.
"""

import math
import time

from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from jobs.models import EndpointCallCount

# Whole seconds counted as "the last 10 s": the current one and the nine before it.
WINDOW_SECONDS = 10
# Rows older than this are deleted when a new second's row is made.
KEEP_SECONDS = 60


def calls_used(endpoint_id, bucket: str, *, now_ts=None) -> int:
    """Calls counted for the bucket in the last WINDOW_SECONDS whole seconds."""
    now_s = int(now_ts if now_ts is not None else time.time())
    total = EndpointCallCount.objects.filter(
        endpoint_id=endpoint_id, bucket=bucket, second__gt=now_s - WINDOW_SECONDS
    ).aggregate(total=Sum("count"))["total"]
    return total or 0


def calls_add(endpoint_id, bucket: str, n: int = 1, *, now_ts=None) -> None:
    """Count n calls in the current second (n may be negative to give back a refused call)."""
    second = int(now_ts if now_ts is not None else time.time())
    rows = EndpointCallCount.objects.filter(endpoint_id=endpoint_id, bucket=bucket, second=second)
    if rows.update(count=F("count") + n) or n <= 0:
        return
    try:
        with transaction.atomic():
            EndpointCallCount.objects.create(endpoint_id=endpoint_id, bucket=bucket, second=second, count=n)
    except IntegrityError:
        # Another thread made this second's row first.
        rows.update(count=F("count") + n)
        return
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
