"""Fixtures for the simulator tests: a fresh simulator over real HTTP per test, and a client for it."""

import httpx
import pytest

from simulator.testing import SimulatorServer

KEY = "test-key"
FAST = {"id": "ep", "min_workers": 2, "max_workers": 4, "cold_start": 0, "idle_timeout": 60, "job_seconds": [0, 0.02]}
COLD = {"id": "cold", "min_workers": 0, "max_workers": 1, "cold_start": 0, "scaler_value": 3600}


@pytest.fixture(scope="session")
def shared_sim():
    with SimulatorServer(seed=7, endpoints=[FAST, COLD]) as server:
        yield server


@pytest.fixture
def sim(shared_sim):
    """A simulator with `ep` (two warm workers, quick jobs) and `cold` (no worker until an hour of queue).

    One server serves the whole session; /_sim/reset before each test brings back its start settings with no
    jobs, workers, statistics or faults, which is also how the reset itself is tested.
    """
    shared_sim.reset()
    return shared_sim


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as http:
        yield http
