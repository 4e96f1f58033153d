"""Simulated time: RunPod time runs `time_scale` times faster than the wall clock."""

from __future__ import annotations

import time


class Clock:
    """A monotonic RunPod-time clock whose speed can change without jumping.

    Deadlines kept in RunPod time (retention, ttl, executionTimeout) stay right when the scale changes, because
    only the speed of the clock changes from then on, not the time already elapsed.
    """

    def __init__(self, scale: float = 1.0):
        self._scale = scale
        self._real_anchor = time.monotonic()
        self._sim_anchor = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        self._sim_anchor = self.now()
        self._real_anchor = time.monotonic()
        self._scale = value

    def now(self) -> float:
        """RunPod seconds since the clock started."""
        return self._sim_anchor + (time.monotonic() - self._real_anchor) * self._scale

    def real(self, runpod_seconds: float) -> float:
        """Wall-clock seconds that a RunPod duration lasts at the current scale."""
        return runpod_seconds / self._scale
