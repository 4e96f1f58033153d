"""A client-side rate limiter: per endpoint and operation, requests per 10 s and requests at once.

One limiter is shared by every thread and coroutine of a process (`default_limiter()`), so many clients for
the same endpoint stay inside RunPod's limits together. Each (base URL, endpoint id, bucket) has a sliding
window of admission times (at most `per_10s` in any 10 s) and a count of requests in flight (at most
`concurrency`). Waiters queue first come, first served; only the head of the queue watches the clock, and a
release wakes it, so nothing busy-loops. The fast path is one lock and a few deque operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Limit:
    per_10s: int | None  # None: no count limit
    concurrency: int | None  # None: no limit on requests at once

    def __post_init__(self):
        for value in (self.per_10s, self.concurrency):
            if value is not None and value < 1:
                raise ValueError("a limit is at least 1 (None for no limit)")


# RunPod's documented limits per endpoint (runpod-api.md, "Rate limits"). /status, /status-sync and /stream
# share one row there, so they share one bucket here. /health and /retry are undocumented: /retry is a write
# on one job like /cancel, so it gets /cancel's limits; /health is read every few seconds at most, so a
# modest 100 per 10 s and 10 at once leaves room without hiding a runaway loop.
DEFAULT_LIMITS: dict[str, Limit] = {
    "run": Limit(1000, 200),
    "runsync": Limit(2000, 400),
    "status": Limit(2000, 400),
    "cancel": Limit(100, 20),
    "purge": Limit(2, None),
    "retry": Limit(100, 20),
    "health": Limit(100, 10),
}

# Operation name (as the client says it) to the bucket whose limit it counts against.
OPERATION_BUCKETS = {
    "run": "run",
    "runsync": "runsync",
    "status": "status",
    "status-sync": "status",
    "stream": "status",
    "cancel": "cancel",
    "retry": "retry",
    "health": "health",
    "purge-queue": "purge",
    "purge": "purge",
}


def endpoint_key(base_url: str, endpoint_id: str) -> tuple[str, str]:
    """What identifies an endpoint to the limiter: the same id behind two base URLs is two endpoints."""
    return (base_url.rstrip("/"), endpoint_id)


class _ThreadWaiter:
    __slots__ = ("event",)

    def __init__(self):
        self.event = threading.Event()

    def arm(self):
        self.event.clear()

    def wake(self) -> bool:
        self.event.set()
        return True

    def wait(self, timeout):
        self.event.wait(timeout)


class _AsyncWaiter:
    __slots__ = ("future", "loop", "thread")

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.future = None

    def arm(self):
        self.future = self.loop.create_future()

    def wake(self) -> bool:
        """Resolve the armed future from any thread; False when the waiter's loop is gone for good."""
        if threading.get_ident() == self.thread and not self.loop.is_closed():
            _resolve(self.future)
            return True
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its loop was closed without cancelling it
            return False
        return True

    async def wait(self, timeout):
        handle = self.loop.call_later(timeout, _resolve, self.future) if timeout is not None else None
        try:
            await self.future
        finally:
            if handle is not None:
                handle.cancel()


def _resolve(future):
    if future is not None and not future.done():
        future.set_result(None)


class Bucket:
    """The limit and the state for one (endpoint, bucket)."""

    def __init__(self, limit: Limit, *, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self.in_flight = 0
        self._stamps: deque[float] = deque()
        self._waiters: deque = deque()
        self._lock = threading.Lock()

    def _take(self) -> float | None:
        """Admit now (None), or say how long until the window has room (math.inf: wait for a release)."""
        per, now = self.limit.per_10s, self.clock()
        if per is not None:
            stamps, edge = self._stamps, now - self.window
            while stamps and stamps[0] <= edge:
                stamps.popleft()
            if len(stamps) >= per:
                return stamps[len(stamps) - per] - edge
        if self.limit.concurrency is not None and self.in_flight >= self.limit.concurrency:
            return math.inf
        if per is not None:
            self._stamps.append(now)
        self.in_flight += 1
        return None

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now and nobody is queued for it."""
        with self._lock:
            return not self._waiters and self._take() is None

    def acquire(self) -> None:
        """Block this thread until a slot is free. Not for event-loop threads: use acquire_async there."""
        if self.try_acquire():
            return
        waiter = self._enqueue(_ThreadWaiter())
        admitted = False
        try:
            while not admitted:
                admitted, timeout = self._turn(waiter)
                if not admitted:
                    waiter.wait(timeout)
        finally:
            if not admitted:
                self._leave(waiter)

    async def acquire_async(self) -> None:
        """Wait (without blocking the loop) until a slot is free."""
        if self.try_acquire():
            return
        waiter = self._enqueue(_AsyncWaiter())
        admitted = False
        try:
            while not admitted:
                admitted, timeout = self._turn(waiter)
                if not admitted:
                    await waiter.wait(timeout)
        finally:
            if not admitted:
                self._leave(waiter)

    def release(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self._wake_head()

    def set_limit(self, limit: Limit) -> None:
        with self._lock:
            self.limit = limit
            self._wake_head()

    def recent(self) -> int:
        """Admissions inside the current window."""
        with self._lock:
            edge = self.clock() - self.window
            return sum(1 for stamp in self._stamps if stamp > edge)

    def _enqueue(self, waiter):
        with self._lock:
            self._waiters.append(waiter)
        return waiter

    def _turn(self, waiter) -> tuple[bool, float | None]:
        """Try to admit the waiter; else arm it and say how long it may sleep (None: until woken)."""
        with self._lock:
            if self._waiters[0] is waiter:
                delay = self._take()
                if delay is None:
                    self._waiters.popleft()
                    self._wake_head()  # the next waiter may fit too
                    return True, None
            else:
                delay = math.inf
            waiter.arm()
            return False, None if delay == math.inf else delay

    def _leave(self, waiter) -> None:
        """A waiter gave up (cancelled or interrupted): pass its turn on."""
        with self._lock:
            was_head = bool(self._waiters) and self._waiters[0] is waiter
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if was_head:
                self._wake_head()

    def _wake_head(self) -> None:
        # A waiter whose event loop was closed under it can never take its turn: drop it, or it blocks the queue.
        while self._waiters and not self._waiters[0].wake():
            self._waiters.popleft()


class _Unlimited:
    """A bucket that always admits."""

    limit = Limit(None, None)
    in_flight = 0

    def try_acquire(self) -> bool:
        return True

    def acquire(self) -> None:
        pass

    async def acquire_async(self) -> None:
        pass

    def release(self) -> None:
        pass

    def recent(self) -> int:
        return 0


class RateLimiter:
    """Buckets per (base URL, endpoint id, bucket), created on first use with the default (scaled) limits."""

    def __init__(
        self,
        limits: dict[str, Limit] | None = None,
        *,
        multiplier: float = 1.0,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ):
        self.limits = {name: _scale(limit, multiplier) for name, limit in {**DEFAULT_LIMITS, **(limits or {})}.items()}
        self.window = window
        self.clock = clock
        self.enabled = enabled
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that admits everything, for benchmarks that must not be slowed by it."""
        return cls(enabled=False)

    def bucket(self, endpoint: tuple[str, str], operation: str) -> Bucket | _Unlimited:
        if not self.enabled:
            return _UNLIMITED
        key = (*endpoint, OPERATION_BUCKETS[operation])
        bucket = self._buckets.get(key)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = Bucket(self.limits[key[2]], window=self.window, clock=self.clock)
                    self._buckets[key] = bucket
        return bucket

    def set_limit(self, endpoint: tuple[str, str], operation: str, per_10s: int | None, concurrency: int | None):
        """Override one endpoint's limit for an operation's bucket (e.g. a key shared with other tools)."""
        self.bucket(endpoint, operation).set_limit(Limit(per_10s, concurrency))

    def try_acquire(self, endpoint, operation) -> bool:
        return self.bucket(endpoint, operation).try_acquire()

    def acquire(self, endpoint, operation) -> None:
        self.bucket(endpoint, operation).acquire()

    async def acquire_async(self, endpoint, operation) -> None:
        await self.bucket(endpoint, operation).acquire_async()

    def release(self, endpoint, operation) -> None:
        self.bucket(endpoint, operation).release()

    @contextlib.contextmanager
    def slot(self, endpoint, operation):
        bucket = self.bucket(endpoint, operation)
        bucket.acquire()
        try:
            yield
        finally:
            bucket.release()

    @contextlib.asynccontextmanager
    async def async_slot(self, endpoint, operation):
        bucket = self.bucket(endpoint, operation)
        await bucket.acquire_async()
        try:
            yield
        finally:
            bucket.release()


def _scale(limit: Limit, multiplier: float) -> Limit:
    def scaled(value):
        return None if value is None else max(1, int(value * multiplier))

    return Limit(scaled(limit.per_10s), scaled(limit.concurrency))


_UNLIMITED = _Unlimited()
_default: RateLimiter | None = None
_default_lock = threading.Lock()


def default_limiter() -> RateLimiter:
    """The process-wide limiter every client uses unless given its own."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = RateLimiter()
    return _default


def set_default_limiter(limiter: RateLimiter | None) -> RateLimiter | None:
    """Replace the process-wide limiter (None: a fresh default on next use); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, limiter
    return previous
