"""Settings of the simulator: the server as a whole, and each endpoint with its worker pool.

Durations named after RunPod's own (cold_start, idle_timeout, scaler_value for the queue-delay rule) are in
RunPod seconds and are divided by `time_scale`; `job_seconds` is real seconds like `input.simulate.seconds`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCALERS = ("queue_delay", "request_count")


class ConfigError(ValueError):
    """A setting has an unknown name or a value out of range."""


@dataclass
class EndpointConfig:
    id: str
    min_workers: int = 1
    max_workers: int = 3
    idle_timeout: float = 5.0  # RunPod seconds an idle worker above min_workers lives on
    cold_start: float = 1.0  # RunPod seconds a new worker spends initializing
    scaler: str = "queue_delay"  # RunPod's two rules: oldest job waited scaler_value s, or jobs per worker
    scaler_value: float = 4.0
    job_seconds: tuple[float, float] = (0.1, 0.5)  # real seconds of a job without simulate.seconds
    throttled_workers: int = 0  # extra workers shown as throttled (no GPU to be had); they take no jobs
    unhealthy_workers: int = 0  # extra workers shown as unhealthy; they take no jobs
    max_queue: int = 50_000

    def validate(self) -> EndpointConfig:
        try:
            self._check()
        except TypeError as exc:
            raise ConfigError(f"endpoint {self.id!r}: {exc}") from exc
        return self

    def _check(self) -> None:
        if not self.id or "/" in self.id:
            raise ConfigError(f"bad endpoint id {self.id!r}")
        if not 0 <= self.min_workers <= self.max_workers:
            raise ConfigError("need 0 <= min_workers <= max_workers")
        if self.scaler not in SCALERS:
            raise ConfigError(f"scaler must be one of {SCALERS}")
        if self.scaler_value <= 0 or self.idle_timeout < 0 or self.cold_start < 0 or self.max_queue < 1:
            raise ConfigError("durations must not be negative, scaler_value and max_queue must be positive")
        low, high = self.job_seconds
        if not 0 <= low <= high:
            raise ConfigError("job_seconds must be [low, high] with 0 <= low <= high")
        if self.throttled_workers < 0 or self.unhealthy_workers < 0:
            raise ConfigError("worker counts must not be negative")

    def updated(self, changes: dict[str, Any]) -> EndpointConfig:
        return _replace(self, {k: v for k, v in changes.items() if k != "id"}).validate()

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["job_seconds"] = list(self.job_seconds)
        return data


@dataclass
class SimulatorConfig:
    endpoints: list[EndpointConfig] = field(default_factory=lambda: [EndpointConfig("demo")])
    api_key: str | None = None  # None: any non-empty Bearer key is accepted
    seed: int | None = None
    time_scale: float = 1.0
    latency_ms: float = 30.0  # added to every /v2 request, like a real round trip
    latency_jitter_ms: float = 0.0  # plus a uniform random 0..jitter
    error_rate: float = 0.0  # share of /v2 requests answered with a 5xx
    timeout_rate: float = 0.0  # share that hang for hang_seconds, then 504 or a closed connection
    hang_seconds: float = 30.0
    drop_rate: float = 0.0  # share whose connection is closed without an answer
    rate_limit_burst: int = 0  # the next N /v2 requests are answered 429
    retry_after: float | str | None = None  # Retry-After on 429: None (absent), seconds, or "auto"
    rate_limits: bool | float = True  # False: off; True: RunPod's; a number multiplies RunPod's limits
    rate_limit_per_worker: int = 0  # per-10 s allowance per running worker (RunPod's is unconfirmed)
    # Misbehaving workers, as RunPod users report them: /cancel leaves a running job running (and billing), and a
    # job runs on past its executionTimeout; either way only its own end (or its ttl) stops it.
    ignore_cancel: bool = False
    ignore_timeout: bool = False

    RUNTIME_KEYS = (
        "time_scale",
        "latency_ms",
        "latency_jitter_ms",
        "error_rate",
        "timeout_rate",
        "hang_seconds",
        "drop_rate",
        "rate_limit_burst",
        "retry_after",
        "rate_limits",
        "rate_limit_per_worker",
        "api_key",
        "ignore_cancel",
        "ignore_timeout",
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | SimulatorConfig | None) -> SimulatorConfig:
        if isinstance(data, SimulatorConfig):
            return dataclasses.replace(data, endpoints=[dataclasses.replace(e) for e in data.endpoints]).validate()
        data = dict(data or {})
        data.update(data.pop("faults", None) or {})
        endpoints = data.pop("endpoints", None)
        config = _replace(cls(), data)
        if endpoints is not None:
            config.endpoints = parse_endpoints(endpoints)
        return config.validate()

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatorConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc

    def validate(self) -> SimulatorConfig:
        try:
            self._check()
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        return self

    def _check(self) -> None:
        if self.time_scale <= 0:
            raise ConfigError("time_scale must be positive")
        for name in ("error_rate", "timeout_rate", "drop_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be between 0 and 1")
        if min(self.latency_ms, self.latency_jitter_ms, self.hang_seconds, self.rate_limit_burst) < 0:
            raise ConfigError("latencies, hang_seconds and rate_limit_burst must not be negative")
        if self.retry_after is not None and self.retry_after != "auto" and float(self.retry_after) < 0:
            raise ConfigError("retry_after must be null, 'auto' or seconds >= 0")
        if not isinstance(self.rate_limits, bool) and float(self.rate_limits) <= 0:
            raise ConfigError("rate_limits must be true, false or a positive multiplier")
        if self.api_key == "":
            self.api_key = None
        ids = [e.validate().id for e in self.endpoints]
        if len(ids) != len(set(ids)):
            raise ConfigError("endpoint ids must be unique")

    def updated(self, changes: dict[str, Any]) -> SimulatorConfig:
        unknown = set(changes) - set(self.RUNTIME_KEYS)
        if unknown:
            raise ConfigError(f"cannot change {sorted(unknown)} at run time; settable: {list(self.RUNTIME_KEYS)}")
        return dataclasses.replace(self, **changes).validate()

    @property
    def rate_limit_multiplier(self) -> float | None:
        if self.rate_limits is False:
            return None
        return 1.0 if self.rate_limits is True else float(self.rate_limits)

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "endpoints"}
        data["endpoints"] = [e.as_dict() for e in self.endpoints]
        return data


def parse_endpoints(value: Any) -> list[EndpointConfig]:
    """Endpoints as a list of ids or settings objects, or as a mapping of id to settings."""
    if isinstance(value, dict):
        value = [{"id": key, **(settings or {})} for key, settings in value.items()]
    return [endpoint_from(item) for item in value]


def endpoint_from(item: str | dict[str, Any]) -> EndpointConfig:
    if isinstance(item, str):
        return EndpointConfig(item).validate()
    item = dict(item)
    try:
        endpoint_id = str(item.pop("id"))
    except KeyError:
        raise ConfigError("an endpoint needs an id") from None
    return _replace(EndpointConfig(endpoint_id), item).validate()


def _replace(obj: Any, changes: dict[str, Any]) -> Any:
    names = {f.name: f for f in dataclasses.fields(obj)}
    unknown = set(changes) - set(names)
    if unknown:
        raise ConfigError(f"unknown settings {sorted(unknown)}")
    if "job_seconds" in changes:
        changes = {**changes, "job_seconds": _seconds_range(changes["job_seconds"])}
    try:
        return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _seconds_range(value: Any) -> tuple[float, float]:
    if isinstance(value, int | float):
        return (float(value), float(value))
    low, high = value
    return (float(low), float(high))
