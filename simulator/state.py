"""The simulator's state shared by its routes: settings, engine, limits, statistics and the webhook sink."""

from __future__ import annotations

import random
from typing import Any

from simulator.config import EndpointConfig, SimulatorConfig, endpoint_from
from simulator.engine import Engine
from simulator.limits import RateLimiter, Stats
from simulator.webhooks import WebhookSink


class Simulator:
    def __init__(self, config: SimulatorConfig | dict[str, Any] | None = None):
        self.initial = SimulatorConfig.from_dict(config)
        self.config = SimulatorConfig.from_dict(self.initial)
        self.engine = Engine(self.config)
        self.faults = random.Random(None if self.config.seed is None else self.config.seed + 2)
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.sink = WebhookSink()

    def configure(self, changes: dict[str, Any]) -> SimulatorConfig:
        """Applies run-time changes (time scale, latency, faults, rate limits); raises ConfigError."""
        config = self.config.updated(changes)
        config.endpoints = self.config.endpoints
        self.config = self.engine.config = config
        self.engine.clock.scale = config.time_scale
        return config

    def set_endpoint(self, settings: dict[str, Any]) -> EndpointConfig:
        """Adds an endpoint, or changes the given settings of an existing one; raises ConfigError."""
        endpoint_id = str(settings.get("id", ""))
        pool = self.engine.pools.get(endpoint_id)
        config = pool.config.updated(settings) if pool else endpoint_from(settings)
        self.engine.set_endpoint(config)
        self.config.endpoints = [p.config for p in self.engine.pools.values()]
        return config

    def reset(self) -> None:
        """Back to the settings the server started with: no jobs, no statistics, no faults."""
        self.config = SimulatorConfig.from_dict(self.initial)
        self.engine.reset(self.config)
        self.faults.seed(None if self.config.seed is None else self.config.seed + 2)
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.sink.clear()

    def consume_burst(self) -> bool:
        """True if this request falls in a configured 429 burst."""
        if self.config.rate_limit_burst <= 0:
            return False
        self.config.rate_limit_burst -= 1
        return True

    def stats_dict(self) -> dict[str, Any]:
        engine = self.engine
        data = self.stats.as_dict()
        data["jobs"] = engine.jobs_by_state()
        data["jobs_stored"] = sum(len(p.jobs) for p in engine.pools.values())
        data["engine"] = dict(engine.counters)
        data["chunks_produced"] = engine.counters["chunks_produced"]
        data["webhooks"] = dict(engine.webhooks.counters)
        data["health"] = {eid: pool.health() for eid, pool in engine.pools.items()}
        data["workers"] = {eid: pool.workers_list() for eid, pool in engine.pools.items()}
        data["workers_peak"] = {eid: pool.peak_workers for eid, pool in engine.pools.items()}
        data["time_scale"] = engine.clock.scale
        data["sim_time_s"] = round(engine.clock.now(), 3)
        return data
