"""Shared fixtures. Layer-specific ones live beside their tests (tests/browser/conftest.py, ...)."""

import uuid

import pytest

from tests.factories import make_endpoint, make_user
from tests.utils import close_poller_connections, logged_in


@pytest.fixture(scope="session", autouse=True)
def _close_poller_connections(django_db_setup):
    """The poller's ORM calls run in asgiref's executor thread; close its connection so the test DB can be dropped.

    Depending on django_db_setup makes this teardown run before the test database is dropped, not after.
    """
    yield
    close_poller_connections()


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    """Pages link static files by name; the hashed manifest exists only after collectstatic. Fast hashing too."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    # Each test its own in-memory cache: login rate limits must not carry over, and clearing a shared Redis
    # cache would flush the broker's database too.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(db):
    return make_user("Viewers", username="viewer")


@pytest.fixture
def operator(db):
    return make_user("Operators", username="operator")


@pytest.fixture
def admin_user(db):
    return make_user(None, username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def as_viewer(viewer):
    return logged_in(viewer)


@pytest.fixture
def as_operator(operator):
    return logged_in(operator)


@pytest.fixture
def as_admin(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def endpoint(db):
    return make_endpoint(name="demo", runpod_id="demo")


@pytest.fixture(scope="session")
def sim():
    """A running RunPod simulator (real HTTP on a free port), shared by the session; reset per use."""
    from simulator.testing import SimulatorServer

    with SimulatorServer(seed=7, latency_ms=0) as server:
        yield server


@pytest.fixture
def sim_endpoint(db, sim):
    """An Endpoint row for a fresh endpoint on the simulator, so tests never see each other's jobs."""
    endpoint_id = f"ep-{uuid.uuid4().hex[:10]}"
    sim.configure(
        time_scale=1.0, error_rate=0, timeout_rate=0, drop_rate=0, rate_limit_burst=0, latency_ms=0, rate_limits=True
    )
    sim.add_endpoint(endpoint_id, min_workers=2, max_workers=4, cold_start=0.2, job_seconds=[0.05, 0.2])
    return make_endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=sim.base_url, api_key="sim-key")


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker with its embedded beat, in a subprocess, on the real Redis broker and the test DB."""
    from tests.celery_worker import CeleryWorker

    worker = CeleryWorker().start()
    yield worker
    worker.stop()
