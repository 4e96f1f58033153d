"""demo_setup and demo_traffic: the logins, endpoints and jobs that make `make run` worth looking at."""

import os
import signal
import stat
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from jobs.management.commands import demo_setup, demo_traffic
from jobs.models import Endpoint, Job
from simulator.jobs import JobSpec
from simulator.testing import SimulatorServer
from tests.factories import make_job, make_user
from tests.utils import wait_for

ROOT = demo_setup.settings.BASE_DIR


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """PBKDF2 costs a fraction of a second per password, and these tests make and check dozens."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def demo_sim():
    """A simulator of this module's own, so adding the demo endpoints changes no one else's."""
    with SimulatorServer(seed=3) as server:
        yield server


@pytest.fixture
def logins_path(tmp_path, monkeypatch):
    path = tmp_path / "demo-logins.txt"
    monkeypatch.setattr(demo_setup, "LOGINS_PATH", path)
    return path


@pytest.fixture
def demo(db, settings, demo_sim, logins_path):
    """demo_setup run in demo mode against the module's simulator; returns the demo endpoints by name."""
    settings.DEMO_MODE = True
    settings.RUNPOD_API_KEY = ""
    settings.SIMULATOR_URL = demo_sim.base_url
    call_command("demo_setup", stdout=StringIO())
    return {e.name: e for e in Endpoint.objects.filter(name__in=["demo", "demo-gpu"])}


def run_setup() -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def test_demo_setup_creates_one_login_per_role_in_a_private_file(db, logins_path):
    """demo_setup creates admin, operator and viewer in their role groups, with passwords in a 0600 file."""
    output = run_setup()
    logins = demo_setup.read_logins(logins_path)
    assert set(logins) == {"admin", "operator", "viewer"}
    assert stat.S_IMODE(logins_path.stat().st_mode) == 0o600
    for username, (role, is_admin) in demo_setup.DEMO_USERS.items():
        user = User.objects.get(username=username)
        assert user.check_password(logins[username])
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.is_staff is is_admin
        assert logins[username] in output


def test_demo_setup_run_twice_keeps_the_same_passwords(db, logins_path):
    """A second run finds the users and the file and changes nothing."""
    run_setup()
    first = demo_setup.read_logins(logins_path)
    run_setup()
    assert demo_setup.read_logins(logins_path) == first
    assert User.objects.count() == 3


def test_demo_setup_never_changes_an_existing_users_password(db, logins_path):
    """A user demo_setup did not make keeps its password, and no password is shown for it."""
    make_user("Admins", username="admin", password="the-real-one")
    output = run_setup()
    assert User.objects.get(username="admin").check_password("the-real-one")
    assert "admin" not in demo_setup.read_logins(logins_path)
    assert "password unchanged" in output


def test_demo_setup_recreates_users_from_the_file_after_a_database_reset(db, logins_path):
    """With the file kept and the database new, the users come back with the passwords the file holds."""
    logins_path.write_text("# demo\nadmin keep-this-one\n")
    run_setup()
    assert User.objects.get(username="admin").check_password("keep-this-one")


def test_demo_setup_points_the_demo_endpoints_at_the_simulator(db, settings, logins_path):
    """In demo mode the demo endpoints follow SIMULATOR_URL (its port may change) and are enabled."""
    settings.DEMO_MODE, settings.RUNPOD_API_KEY = True, ""
    settings.SIMULATOR_URL = "http://127.0.0.1:9001/v2"
    run_setup()
    settings.SIMULATOR_URL = "http://127.0.0.1:9002/v2"
    run_setup()
    endpoints = Endpoint.objects.order_by("name")
    assert [(e.name, e.runpod_id, e.base_url, e.enabled) for e in endpoints] == [
        ("demo", "demo", "http://127.0.0.1:9002/v2", True),
        ("demo-gpu", "demo-gpu", "http://127.0.0.1:9002/v2", True),
    ]
    assert endpoints[0].api_key == demo_setup.DEMO_API_KEY


def test_real_mode_tracks_the_listed_endpoints_and_switches_the_demo_off(db, settings, logins_path):
    """With RUNPOD_API_KEY, the RUNPOD_ENDPOINT_IDS endpoints get the key and the demo ones are disabled."""
    settings.DEMO_MODE, settings.SIMULATOR_URL = True, "http://127.0.0.1:9001/v2"
    run_setup()
    settings.DEMO_MODE, settings.RUNPOD_API_KEY = False, "rp_real_key"
    settings.RUNPOD_ENDPOINT_IDS = ["abc123", "def456"]
    run_setup()
    real = Endpoint.objects.filter(base_url=settings.RUNPOD_BASE_URL).order_by("runpod_id")
    assert [(e.runpod_id, e.api_key, e.enabled) for e in real] == [
        ("abc123", "rp_real_key", True),
        ("def456", "rp_real_key", True),
    ]
    assert not Endpoint.objects.filter(name__in=["demo", "demo-gpu"], enabled=True).exists()


def test_real_mode_without_endpoint_ids_says_what_is_missing(db, settings, logins_path):
    """RUNPOD_API_KEY alone is an error that names RUNPOD_ENDPOINT_IDS."""
    settings.RUNPOD_API_KEY, settings.RUNPOD_ENDPOINT_IDS = "rp_real_key", []
    with pytest.raises(CommandError, match="RUNPOD_ENDPOINT_IDS"):
        run_setup()


def test_every_demo_action_makes_jobs_the_simulator_accepts(demo):
    """Each kind of demo traffic records jobs whose input.simulate the simulator understands."""
    traffic = demo_traffic.DemoTraffic(demo, demo_traffic.random.Random(1))
    for _, action in traffic.actions:
        action()
    jobs = list(Job.objects.all())
    assert {(job.mode, job.streaming) for job in jobs} == {("run", False), ("run", True), ("runsync", False)}
    assert {job.endpoint.name for job in jobs} == {"demo", "demo-gpu"}
    assert any(job.tracked and job.runpod_id for job in jobs)
    for job in jobs:
        JobSpec.from_input(job.input)
    assert all(job.submitted_by.username == "operator" for job in jobs)


def test_the_opening_shows_every_kind_before_chance_takes_over(demo):
    """The first actions are a fixed tour: quick, streaming, failing, /runsync, slow, a burst, a tracked job."""
    traffic = demo_traffic.DemoTraffic(demo, demo_traffic.random.Random(1))
    for _ in range(7):
        traffic.step()
    jobs = Job.objects.all()
    assert jobs.filter(streaming=True).exists()
    assert jobs.filter(mode="runsync").exists()
    assert jobs.filter(input__simulate__fail__isnull=False).exists()
    assert jobs.filter(endpoint__name="demo-gpu").count() >= 4
    assert jobs.filter(tracked=True).exists()
    assert traffic.opening == []


def test_an_operator_cancels_a_long_running_demo_job(demo):
    """The cancel action picks the oldest unfinished demo job and cancels it on the simulator."""
    traffic = demo_traffic.DemoTraffic(demo, demo_traffic.random.Random(1))
    job = traffic.tracked()
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    traffic.cancel_one()
    job.refresh_from_db()
    assert job.status == "CANCELLED"


def test_the_traffic_waits_while_too_many_jobs_are_unfinished(demo):
    """With MAX_BACKLOG demo jobs not final, a step submits nothing."""
    for _ in range(demo_traffic.MAX_BACKLOG):
        make_job(endpoint=demo["demo"], status="IN_QUEUE")
    traffic = demo_traffic.DemoTraffic(demo, demo_traffic.random.Random(1))
    traffic.step()
    assert Job.objects.count() == demo_traffic.MAX_BACKLOG


def test_a_failing_action_is_logged_and_the_traffic_goes_on(demo, caplog):
    """An action that raises is logged with its name; step() returns normally."""
    traffic = demo_traffic.DemoTraffic(demo, demo_traffic.random.Random(1))

    def broken():
        raise RuntimeError("simulated trouble")

    traffic.opening = [broken]
    traffic.step()
    assert "demo action broken failed" in caplog.text


def test_demo_traffic_gives_the_simulator_the_demo_pools_and_stops_after_count(demo, demo_sim):
    """demo_traffic --count configures both demo endpoints on the simulator, then stops by itself."""
    out = StringIO()
    call_command("demo_traffic", count=2, interval=0, seed=1, stdout=out)
    pools = {e["id"]: e for e in httpx.get(f"{demo_sim.control_url}/endpoints").json()}
    assert pools["demo-gpu"]["min_workers"] == 0
    assert pools["demo-gpu"]["throttled_workers"] == 1
    assert Job.objects.exists()
    assert "stopped after 2 action(s)" in out.getvalue()


def test_demo_traffic_without_demo_endpoints_says_to_run_demo_setup(db):
    """Run before demo_setup, it names the command to run first."""
    with pytest.raises(CommandError, match="demo_setup"):
        call_command("demo_traffic", count=1, stdout=StringIO())


def test_demo_traffic_stops_cleanly_on_sigterm(transactional_db, settings, demo_sim, logins_path):
    """The command in its own process submits jobs until SIGTERM, then says so and exits 0."""
    settings.DEMO_MODE, settings.RUNPOD_API_KEY, settings.SIMULATOR_URL = True, "", demo_sim.base_url
    call_command("demo_setup", stdout=StringIO())
    env = dict(
        os.environ,
        DJANGO_DB_NAME=str(connection.settings_dict["NAME"]),
        SIMULATOR_URL=demo_sim.base_url,
        # Publishing goes nowhere: no worker of anyone else's may receive this test's jobs.
        CELERY_BROKER_URL="memory://",
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo_traffic", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: Job.objects.count() >= 2, timeout=60, message="demo jobs from the subprocess")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert "Demo traffic stopped after" in output
