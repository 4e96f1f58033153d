"""`python manage.py runpod_simulator --port 8765`: serve the RunPod-compatible simulator.

Settings come from `--config FILE` (JSON, the shape of `SimulatorConfig`: {"endpoints": [{"id": "demo", ...}],
"time_scale": 60, ...}), then from the options, which win. `--endpoint id:min_workers=0,max_workers=5` adds or
sets an endpoint (repeatable). Without any, it serves a `demo` endpoint and accepts any non-empty Bearer key.
"""

from __future__ import annotations

import json
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.app import create_app
from simulator.config import ConfigError, SimulatorConfig, endpoint_from
from simulator.serve import uvicorn_config

OPTIONS: list[tuple[str, type, str]] = [
    ("api_key", str, "insist on this key (default: accept any non-empty Bearer key)"),
    ("seed", int, "seed for job ids, durations and faults (deterministic runs)"),
    ("time_scale", float, "divide RunPod durations by this (60: 30 min of retention last 30 s)"),
    ("latency_ms", float, "latency added to every /v2 request (default 30)"),
    ("latency_jitter_ms", float, "plus a random 0..N ms"),
    ("error_rate", float, "share of requests answered 5xx"),
    ("timeout_rate", float, "share of requests that hang --hang-seconds, then 504 or close"),
    ("hang_seconds", float, "how long a timed-out request hangs (default 30)"),
    ("drop_rate", float, "share of connections closed without an answer"),
    ("rate_limit_burst", int, "answer the next N requests with 429"),
    ("rate_limit_per_worker", int, "per-10 s rate allowance per running worker"),
]


class Command(BaseCommand):
    help = "Serve a RunPod-compatible Serverless endpoint simulator (Starlette on uvicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--config", help="JSON settings file")
        for name, kind, text in OPTIONS:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
        parser.add_argument("--retry-after", help="Retry-After on 429: seconds, 'auto' or 'none' (default none)")
        parser.add_argument("--rate-limits", help="'on' (RunPod's), 'off', or a multiplier such as 0.5")
        parser.add_argument(
            "--endpoint", action="append", default=[], help="id[:key=value,...], e.g. gpu:min_workers=0,max_workers=5"
        )
        parser.add_argument("--log-level", default="warning")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = build_config(options)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        ids = ", ".join(e.id for e in config.endpoints)
        self.stdout.write(f"RunPod simulator on http://{options['host']}:{options['port']}/v2 (endpoints: {ids})")
        app = create_app(config)
        settings = uvicorn_config(app, host=options["host"], port=options["port"], log_level=options["log_level"])
        uvicorn.Server(settings).run()


def build_config(options: dict[str, Any]) -> SimulatorConfig:
    data: dict[str, Any] = {}
    if options.get("config"):
        data = SimulatorConfig.from_file(options["config"]).as_dict()
    data.update({name: options[name] for name, _, _ in OPTIONS if options.get(name) is not None})
    if options.get("retry_after") is not None:
        data["retry_after"] = parse_retry_after(options["retry_after"])
    if options.get("rate_limits") is not None:
        data["rate_limits"] = parse_rate_limits(options["rate_limits"])
    if options.get("endpoint"):
        endpoints = {e["id"]: e for e in data.get("endpoints", [])} if options.get("config") else {}
        for text in options["endpoint"]:
            settings = parse_endpoint(text)
            endpoints[settings["id"]] = {**endpoints.get(settings["id"], {}), **settings}
        data["endpoints"] = [endpoint_from(e).as_dict() for e in endpoints.values()]
    return SimulatorConfig.from_dict(data)


def parse_endpoint(text: str) -> dict[str, Any]:
    endpoint_id, _, rest = text.partition(":")
    settings: dict[str, Any] = {"id": endpoint_id}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--endpoint {text!r}: expected key=value, got {pair!r}")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


def parse_retry_after(text: str) -> float | str | None:
    if text.lower() in ("none", "null", ""):
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--retry-after {text!r}: seconds, 'auto' or 'none'") from None


def parse_rate_limits(text: str) -> bool | float:
    if text.lower() in ("on", "true", "yes"):
        return True
    if text.lower() in ("off", "false", "no"):
        return False
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--rate-limits {text!r}: on, off or a multiplier") from None
