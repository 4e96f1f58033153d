"""Fixtures for the reliability suite: a scripted RunPod and Hypothesis profiles (clients per role: tests/conftest.py).

Hypothesis runs derandomized by default so CI sees the same inputs every time; HYPOTHESIS_PROFILE=explore draws
fresh ones (and more of them) for a local bug hunt.
"""

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from tests.factories import make_endpoint

from .figures import ROOT
from .servers import HostileRunPod

_common = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
hypothesis_settings.register_profile("reliability-ci", max_examples=150, derandomize=True, **_common)
hypothesis_settings.register_profile(
    "reliability-explore",
    max_examples=1000,
    database=DirectoryBasedExampleDatabase(str(ROOT / "var" / "hypothesis")),
    **_common,
)
hypothesis_settings.load_profile("reliability-" + os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def hostile():
    """A RunPod stand-in answering what the test scripts; unscripted requests get 404."""
    server = HostileRunPod()
    with server.running():
        yield server


@pytest.fixture
def hostile_endpoint(db, hostile):
    return make_endpoint(name="hostile", runpod_id="hostile", base_url=hostile.base_url, api_key="rpa_HOSTILEKEY123")
