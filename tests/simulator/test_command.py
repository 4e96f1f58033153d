"""The management command and the settings it builds: options, config files, endpoint specs."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.ports import free_port
from simulator.config import ConfigError, SimulatorConfig
from simulator.management.commands.runpod_simulator import build_config, parse_endpoint
from tests.simulator.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def options(**given):
    names = ("config", "api_key", "seed", "time_scale", "latency_ms", "retry_after", "rate_limits", "endpoint")
    return {**dict.fromkeys(names), "endpoint": [], **given}


def test_no_options_serve_a_demo_endpoint_with_any_key():
    """Without options there is one `demo` endpoint, no required key, 30 ms of latency and RunPod's limits."""
    config = build_config(options())
    assert [e.id for e in config.endpoints] == ["demo"]
    assert config.api_key is None
    assert config.latency_ms == 30
    assert config.rate_limit_multiplier == 1.0


def test_options_override_the_config_file(tmp_path):
    """A JSON config file sets endpoints and settings; command-line options win over it."""
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"time_scale": 5, "seed": 3, "endpoints": {"a": {"max_workers": 9}, "b": {}}}))
    config = build_config(options(config=str(path), time_scale=60.0, endpoint=["b:min_workers=0,cold_start=2.5"]))
    assert config.time_scale == 60
    assert config.seed == 3
    endpoints = {e.id: e for e in config.endpoints}
    assert endpoints["a"].max_workers == 9
    assert (endpoints["b"].min_workers, endpoints["b"].cold_start) == (0, 2.5)


def test_rate_limit_and_retry_after_options_are_parsed():
    """--rate-limits takes on/off/a multiplier and --retry-after seconds, auto or none."""
    assert build_config(options(rate_limits="off")).rate_limit_multiplier is None
    assert build_config(options(rate_limits="0.5")).rate_limit_multiplier == 0.5
    assert build_config(options(retry_after="auto")).retry_after == "auto"
    assert build_config(options(retry_after="none")).retry_after is None


def test_bad_settings_raise_config_errors():
    """Unknown names, impossible worker counts and bad endpoint specs are refused with a clear error."""
    with pytest.raises(ConfigError, match="unknown"):
        SimulatorConfig.from_dict({"colour": "blue"})
    with pytest.raises(ConfigError, match="min_workers"):
        SimulatorConfig.from_dict({"endpoints": [{"id": "x", "min_workers": 5, "max_workers": 1}]})
    with pytest.raises(ConfigError, match="key=value"):
        parse_endpoint("x:max_workers")
    with pytest.raises(ConfigError):
        SimulatorConfig.from_dict({"time_scale": "fast"})


def test_the_command_serves_the_api_in_a_subprocess():
    """`manage.py runpod_simulator --port N` serves /v2 and insists on --api-key when given."""
    port = free_port()
    command = [sys.executable, "manage.py", "runpod_simulator", "--port", str(port), "--api-key", "k1"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/v2/demo"
        wait_for(lambda: _answers(f"{base}/health"), timeout=20, message="the simulator to listen")
        assert httpx.get(f"{base}/health", headers={"Authorization": "Bearer k1"}).json()["jobs"]["completed"] == 0
        assert httpx.get(f"{base}/health", headers={"Authorization": "Bearer k2"}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url):
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.TransportError:
        return None
