"""RunPod's per-endpoint rate limits (requests per sliding 10 s, and at once) and the request statistics."""

from __future__ import annotations

import time
from collections import Counter, deque

WINDOW = 10.0  # real seconds: rate limits are not scaled by time_scale
LIMITS: dict[str, tuple[int, int | None]] = {
    "run": (1000, 200),
    "runsync": (2000, 400),
    "status": (2000, 400),
    "cancel": (100, 20),
    "purge-queue": (2, None),
}
GROUPS = {
    "run": "run",
    "runsync": "runsync",
    "status": "status",
    "status-sync": "status",
    "stream": "status",
    "cancel": "cancel",
    "purge-queue": "purge-queue",
}  # /health and /retry have no documented limit
POLL_OPERATIONS = frozenset({"status", "status-sync", "stream"})


class SlidingWindow:
    """Timestamps of the last WINDOW seconds; O(1) amortised per event."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: deque[float] = deque()

    def count(self, now: float) -> int:
        events, horizon = self.events, now - WINDOW
        while events and events[0] <= horizon:
            events.popleft()
        return len(events)

    def add(self, now: float) -> int:
        count = self.count(now)
        self.events.append(now)
        return count + 1

    def free_in(self, now: float) -> float:
        """Seconds until the oldest event leaves the window."""
        return max(0.0, self.events[0] + WINDOW - now) if self.events else 0.0


class RateLimiter:
    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], SlidingWindow] = {}
        self.in_flight: Counter[tuple[str, str]] = Counter()

    def acquire(self, endpoint_id: str, operation: str, multiplier: float, allowance: int) -> float | None:
        """None if the request may go on (release it later), else the seconds until the window frees a slot."""
        group = GROUPS.get(operation)
        if group is None:
            return None
        per_window, at_once = LIMITS[group]
        key, now = (endpoint_id, group), time.monotonic()
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = SlidingWindow()
        if window.count(now) >= max(int(per_window * multiplier), allowance):
            return max(window.free_in(now), 0.001)
        if at_once is not None and self.in_flight[key] >= max(1, int(at_once * multiplier)):
            return 0.001
        window.events.append(now)
        self.in_flight[key] += 1
        return None

    def release(self, endpoint_id: str, operation: str) -> None:
        group = GROUPS.get(operation)
        if group is not None:
            self.in_flight[(endpoint_id, group)] -= 1


class Stats:
    """What the simulator saw: requests per endpoint and operation, answers per status code, polling peaks."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.responses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.poll_windows: dict[str, SlidingWindow] = {}
        self.poll_peak: Counter[str] = Counter()

    def request(self, endpoint_id: str, operation: str) -> None:
        self.requests[(endpoint_id, operation)] += 1
        if operation in POLL_OPERATIONS:
            window = self.poll_windows.get(endpoint_id)
            if window is None:
                window = self.poll_windows[endpoint_id] = SlidingWindow()
            count = window.add(time.monotonic())
            if count > self.poll_peak[endpoint_id]:
                self.poll_peak[endpoint_id] = count

    def as_dict(self) -> dict:
        requests: dict[str, dict[str, int]] = {}
        for (endpoint_id, operation), count in sorted(self.requests.items()):
            requests.setdefault(endpoint_id, {})[operation] = count
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests": requests,
            "requests_total": sum(self.requests.values()),
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
            "max_poll_per_10s": dict(self.poll_peak),
            "max_poll_per_10s_any": max(self.poll_peak.values(), default=0),
            "faults": dict(self.faults),
        }
