"""A real Celery worker (with its embedded beat) in a subprocess, on the real Redis broker and the test database.

Each worker gets its own queue name, so test runs that share one Redis never take each other's tasks.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from dashboard.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


class CeleryWorker:
    def __init__(self, *, beat=True, concurrency=2, env=None, queue=None):
        self.queue = queue or f"test-{uuid.uuid4().hex[:12]}"
        self.beat = beat
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.proc = None
        self.workdir = tempfile.mkdtemp(prefix="rpdash-worker-")
        self.log_path = Path(self.workdir) / "worker.log"

    def environment(self):
        env = dict(os.environ)
        env.update(
            DJANGO_DB_NAME=str(connection.settings_dict["NAME"]),
            CELERY_QUEUE=self.queue,
            REDIS_URL=settings.REDIS_URL,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            POLL_TICK_SECONDS="1",
            HEALTH_TICK_SECONDS="2",
            POLL_TASK_BUDGET_SECONDS="3",
            RUNSYNC_WAIT_MS="1000",
            RUNPOD_TIMEOUT_SECONDS="1",
            POLL_LEASE_SECONDS="4",
            PYTHONUNBUFFERED="1",
        )
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def start(self):
        # The test process publishes to the same private queue as the worker consumes.
        celery_app.conf.task_default_queue = self.queue
        cmd = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "-l", "info", "-Q", self.queue]
        cmd += [
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{self.queue}@%h",
        ]
        if self.beat:
            cmd += ["-B", "--scheduler", "celery.beat:PersistentScheduler", "-s", f"{self.workdir}/beat-schedule"]
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.environment(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait_ready(self, timeout: float = 180.0):
        """Until the worker says it is ready to consume: on a loaded machine its start can take longer than a
        test's stall limit, which then blames the code under test for the worker's slow import."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.output().splitlines()[-20:])
                raise AssertionError(f"the worker on {self.queue} did not get ready:\n{tail}")
            time.sleep(0.1)
        return self

    def kill(self):
        """SIGKILL the whole worker (main process, pool children, beat), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()
        celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
