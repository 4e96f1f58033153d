"""The dashboard's own processes for benchmarks: a real Celery worker with its beat, a gunicorn web server,
each optionally under `/usr/bin/time -v`, and their memory read from /proc.

Peak memory is read two ways: VmHWM (the kernel's high-water mark of resident memory) of every process in the
tree, sampled until it stops, and GNU time's "Maximum resident set size" (the largest process it waited for).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.common import ROOT, free_port, log

TIME = "/usr/bin/time"


def children_of(pid: int) -> list[int]:
    """Every descendant of pid (from /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            queue += kids
    return found


def status_kib(pid: int, key: str) -> int | None:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), or None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class MemorySampler:
    """Samples the resident memory of a process tree in a thread; keeps each process's peak (VmHWM)."""

    def __init__(self, root_pid: int, interval: float = 0.5):
        self.root_pid = root_pid
        self.interval = interval
        self.peaks: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for pid in [self.root_pid, *children_of(self.root_pid)]:
            hwm, rss = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
            if hwm is None:
                continue
            entry = self.peaks.setdefault(pid, {"pid": pid, "command": command_of(pid)[:160], "rss_kib": 0})
            entry["hwm_kib"] = max(entry.get("hwm_kib", 0), hwm)
            entry["rss_kib"] = max(entry["rss_kib"], rss or 0)

    def stop(self) -> list[dict]:
        self.sample()
        self._stop.set()
        self._thread.join(5)
        return sorted(self.peaks.values(), key=lambda entry: -entry["hwm_kib"])


def time_max_rss_kib(path: Path) -> int | None:
    """GNU time -v's "Maximum resident set size (kbytes)"."""
    try:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", path.read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


class ManagedProcess:
    """A child process in its own session, optionally under /usr/bin/time -v, stopped with SIGTERM."""

    def __init__(self, command: list[str], *, env: dict, name: str, timed: bool = True):
        self.workdir = Path(tempfile.mkdtemp(prefix=f"rpdash-bench-{name}-"))
        self.log_path = self.workdir / f"{name}.log"
        self.time_path = self.workdir / "time.txt"
        self.timed = timed and Path(TIME).exists()
        self.command = ([TIME, "-v", "-o", str(self.time_path)] if self.timed else []) + command
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self):
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def main_pid(self) -> int:
        """The measured program's pid (time's child when under time)."""
        if not self.timed:
            return self.proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kids = children_of(self.proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.05)
        raise RuntimeError("the timed process did not start")

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the program (time passes its exit on), wait, and return time's peak RSS in KiB."""
        if self.proc is not None and self.proc.poll() is None:
            target = self.main_pid if self.timed else self.proc.pid
            os.kill(target, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()
        return time_max_rss_kib(self.time_path) if self.timed else None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def dashboard_env(database_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="dashboard.settings", PYTHONUNBUFFERED="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def celery_worker(database_url: str, *, concurrency=2, beat=True, timed=True, queue=None, **env):
    """A real worker (prefork pool, its embedded beat) on its own queue of the real Redis broker."""
    queue = queue or f"bench-{uuid.uuid4().hex[:10]}"
    command = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "-l", "warning", "-Q", queue]
    command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"]
    worker = ManagedProcess(
        command, env=dashboard_env(database_url, CELERY_QUEUE=queue, **env), name="worker", timed=timed
    )
    if beat:
        worker.command += ["-B", "--scheduler", "celery.beat:PersistentScheduler", "-s", f"{worker.workdir}/beat"]
    worker.queue = queue
    return worker.start()


def gunicorn(database_url: str, *, workers: int = 1, timed: bool = True, **env):
    """The web app under gunicorn (sync workers), as deployed; `.url` once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--access-logfile", "-", "--log-level", "warning"]
    server = ManagedProcess(command, env=dashboard_env(database_url, **env), name="web", timed=timed)
    server.url = f"http://127.0.0.1:{port}"
    server.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{server.url}/login/", timeout=2, trust_env=False)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.stop()
    raise SystemExit(f"gunicorn did not start:\n{server.output()[-2000:]}")


def wait_until(condition, *, timeout: float, interval: float = 0.5, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    log(f"gave up waiting for {message} after {timeout:.0f} s")
    return None
