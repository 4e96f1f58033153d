"""`make run` as a newcomer meets it: a clean clone, a bare environment, the dashboard live within two minutes.

The clone reuses this test run's virtualenv (VENV=...), so no network install is timed; everything else is what
a new user gets: SQLite in the clone's var/, demo logins, the simulator and demo traffic, with the local Redis or,
when none answers, the embedded broker. Ctrl-C (SIGINT to the terminal's process group) must stop all of it.
"""

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings

from scripts.ports import free_port
from tests.utils import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT = 120.0
# What a new user's shell might have; nothing of this test run's own settings (DATABASE_URL, queues, ...).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SHELL")


@pytest.fixture
def clone(tmp_path):
    """A fresh clone of the committed tree, as `git clone` gives a newcomer."""
    target = tmp_path / "runpod-dashboard"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


@pytest.fixture
def private_queue():
    """A Celery queue of this test's own on the shared Redis, so no other worker takes its tasks; removed after."""
    import redis

    name = f"make-run-{uuid.uuid4().hex[:8]}"
    yield name
    redis.Redis.from_url(settings.REDIS_URL).delete(name)


class MakeRun:
    """`make run` in the clone, in its own session like a terminal's foreground job."""

    def __init__(self, clone: Path, env: dict[str, str]):
        self.clone = clone
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = clone / "var" / f"make-run-{uuid.uuid4().hex[:6]}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.started = time.monotonic()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["make", "run", f"VENV={sys.prefix}"],
                cwd=clone,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remaining(self) -> float:
        return max(1.0, STARTUP_LIMIT - (time.monotonic() - self.started))

    def db(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.clone / "var" / "db.sqlite3", timeout=10) as conn:
            return conn.execute(sql).fetchall()

    def wait(self, predicate, message: str):
        def check():
            assert self.proc.poll() is None, f"make run exited early:\n{self.output()[-4000:]}"
            try:
                return predicate()
            except (httpx.HTTPError, sqlite3.Error, OSError):
                return None

        return wait_for(check, timeout=self.remaining(), interval=0.5, message=message)

    def ctrl_c(self) -> list[psutil.Process]:
        """SIGINT to the foreground process group, as a terminal sends it; returns every process started."""
        tree = psutil.Process(self.proc.pid).children(recursive=True)
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=40)
        return tree

    def stop(self):
        if self.proc.poll() is None:
            # run.py starts each program in a session of its own, out of reach of killpg: take every descendant
            # first, so a failed test leaves no dashboard running behind it.
            try:
                descendants = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                descendants = []
            os.killpg(self.proc.pid, signal.SIGKILL)
            for process in descendants:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            self.proc.wait(10)


def newcomer_env(**extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    # Its own cache keys: failed logins by other tests on 127.0.0.1 must not lock this newcomer out.
    env.update(PORT=str(free_port()), SIMULATOR_PORT=str(free_port()), CACHE_KEY_PREFIX=f"rpdash-{uuid.uuid4().hex}")
    env.update(**extra)
    return env


def log_in(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
    )
    assert answer.status_code == 302, answer.text[:2000]
    return client


def check_lively_dashboard(run: MakeRun):
    """The login page, a signed-in overview with its static files, and every kind of demo job in the database."""
    assert run.wait(lambda: httpx.get(f"{run.base}/login/", timeout=2).status_code == 200, "the login page")
    logins = dict(
        line.split()[:2] for line in (run.clone / "var" / "demo-logins.txt").read_text().splitlines() if line[0] != "#"
    )
    assert set(logins) == {"admin", "operator", "viewer"}
    client = log_in(run.base, "viewer", logins["viewer"])
    overview = client.get("/")
    assert overview.status_code == 200
    assert "demo-gpu" in overview.text
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', overview.text)
    assert assets, "the overview links no CSS or JS"
    assert all(client.get(asset).status_code == 200 for asset in assets)

    def count(where: str) -> int:
        return run.db(f"SELECT count(*) FROM jobs_job WHERE {where}")[0][0]  # noqa: S608 - fixed test SQL

    run.wait(lambda: count("status = 'COMPLETED' AND mode = 'run' AND NOT streaming"), "a completed /run job")
    run.wait(lambda: count("status = 'FAILED'"), "a failed job")
    run.wait(lambda: count("status = 'COMPLETED' AND mode = 'runsync'"), "a completed /runsync job")
    run.wait(lambda: run.db("SELECT count(*) FROM jobs_streamchunk")[0][0], "stored stream chunks")
    run.wait(lambda: run.db("SELECT count(DISTINCT endpoint_id) FROM jobs_healthsnapshot")[0][0] == 2, "health")
    jobs_page = client.get("/jobs/")
    assert jobs_page.status_code == 200
    assert "COMPLETED" in jobs_page.text.upper()


def check_ctrl_c_stops_everything(run: MakeRun):
    tree = run.ctrl_c()
    assert len(tree) >= 5, f"expected web, worker, beat, simulator and traffic; saw {[p.pid for p in tree]}"

    def all_gone():
        return not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    wait_for(all_gone, timeout=20, message="every process of make run to end after Ctrl-C")


def test_make_run_brings_a_lively_dashboard_up_with_the_local_redis(clone, private_queue):
    """With Redis answering, make run uses it and shows every kind of demo job within two minutes; Ctrl-C ends all."""
    env = newcomer_env(REDIS_URL=settings.REDIS_URL, CELERY_QUEUE=private_queue)
    run = MakeRun(clone, env)
    try:
        check_lively_dashboard(run)
        assert f"Broker: {settings.REDIS_URL}" in run.output()
        check_ctrl_c_stops_everything(run)
    finally:
        run.stop()


def test_make_run_falls_back_to_the_embedded_broker_without_redis(clone):
    """With no Redis answering, make run says so in one line and runs just as well on the embedded broker."""
    env = newcomer_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    run = MakeRun(clone, env)
    try:
        check_lively_dashboard(run)
        assert "No Redis answers" in run.output()
        assert "transport:   filesystem://" in run.output()
        check_ctrl_c_stops_everything(run)
    finally:
        run.stop()
