"""`make run`: the dashboard with everything it needs, in the foreground; one Ctrl-C stops all of it.

1. Choose the broker: Redis at REDIS_URL (or CELERY_BROKER_URL) if one answers, else the embedded one (message
   files in var/celery-broker/, one machine only).
2. Choose the mode: real RunPod endpoints when RUNPOD_API_KEY is set, else the demo (simulator plus demo traffic).
3. Migrate, collect static files, create the logins and endpoints (`demo_setup`), print how to get in.
4. Start the Procfile's processes: web, worker and beat, plus sim and traffic in the demo; restart any that exits
   (after a growing backoff) and the worker when it stops taking poll ticks (`manage.py health worker`).

The defaults suit one machine: SQLite in var/, the web server on 127.0.0.1:8000 (WEB_HOST and PORT change it).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ports import free_port  # scripts/ports.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EMBEDDED_BROKER_URL = "filesystem://"
DEFAULT_SIMULATOR_PORT = 8765


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def broker_env(env: dict[str, str]) -> dict[str, str]:
    """Redis when one answers; otherwise the embedded broker, with a one-line notice."""
    url = env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or DEFAULT_REDIS_URL
    if not url.startswith(("redis://", "rediss://")):
        print(f"Broker: {url}")
        return {}
    if redis_answers(url):
        print(f"Broker: {url}")
        # Named explicitly so the cache (login attempt counts) is shared by the web processes too.
        return {"REDIS_URL": env.get("REDIS_URL") or url}
    print(f"No Redis answers at {url}: using the embedded broker in var/celery-broker/ (one machine only).")
    # The cache stays in each process's memory: login attempts are then counted per web process.
    return {"CELERY_BROKER_URL": EMBEDDED_BROKER_URL, "USE_REDIS_CACHE": "no"}


def mode_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment and the Procfile processes for real endpoints or for the demo."""
    if env.get("RUNPOD_API_KEY") or env.get("RUNPOD_API_KEY_FILE"):
        print(f"Real mode: tracking RUNPOD_ENDPOINT_IDS={env.get('RUNPOD_ENDPOINT_IDS', '')} (no simulator, no demo).")
        return {"DEMO_MODE": "no"}, ["web", "worker", "beat"]
    port = int(env.get("SIMULATOR_PORT") or 0) or DEFAULT_SIMULATOR_PORT
    if "SIMULATOR_PORT" not in env and not port_free("127.0.0.1", port):
        port = free_port()
    extra = {"DEMO_MODE": "yes", "SIMULATOR_PORT": str(port), "SIMULATOR_URL": f"http://127.0.0.1:{port}/v2"}
    print(f"Demo mode: a RunPod simulator on port {port} and a trickle of demo jobs (set RUNPOD_API_KEY for real).")
    return extra, ["web", "worker", "beat", "sim", "traffic"]


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("WEB_HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    # Served over plain http on this machine: Secure cookies would never come back from a browser.
    env.setdefault("SECURE_COOKIES", "no")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


# How long a program gets to stop on SIGTERM before its process group is killed: a Celery worker on the embedded
# broker needs about 7 s for a warm shutdown.
KILL_WAIT = 15.0
# A program that exits by itself is restarted after this many seconds, doubled on each quick repeat up to the cap.
RESTART_BACKOFF = 1.0
RESTART_BACKOFF_CAP = 30.0
# A program that ran this long before it died starts again from the shortest backoff.
RESTART_RESET_AFTER = 60.0


class Program:
    """One Procfile program: its command, the current process, and when it may start again after a crash."""

    def __init__(self, name: str, command: str):
        self.name = name
        self.command = command
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.backoff = RESTART_BACKOFF
        self.restart_at: float | None = None
        self.stuck_reason = ""

    def launch(self, env: dict[str, str], lines: queue.Queue) -> None:
        # exec: the pid we signal is the program itself, not the shell around it. A session of its own, so a
        # terminal's Ctrl-C reaches only us and we stop the programs in order, and so its whole group (Celery's
        # pool, gunicorn's workers) can be killed when the main process dies without stopping them.
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.monotonic()
        self.restart_at = None
        self.stuck_reason = ""
        say(f"{self.name} started (pid {self.proc.pid})")
        threading.Thread(target=forward, args=(self.name, self.proc.stdout, lines), daemon=True).start()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def say(line: str, name: str = "run") -> None:
    print(f"{time.strftime('%H:%M:%S')} {name:<8} | {line}", flush=True)


def forward(name: str, stream, lines: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        lines.put((name, raw.decode(errors="replace").rstrip("\n")))


class StuckWorkerCheck:
    """`manage.py health worker` in a thread: beat kept sending poll ticks but the worker took none.

    A worker can stay connected to the broker and never consume again (see jobs/services/heartbeat.py), so its
    process never exits: only the heartbeat shows it. The check runs in its own process (Django is not loaded
    here) and in a thread so the output keeps flowing while it runs.
    """

    def __init__(self, env: dict[str, str], hostname: str):
        self.env = env
        self.hostname = hostname
        self.stale = float(env.get("HEARTBEAT_STALE_SECONDS") or 180)
        self.every = min(max(self.stale / 3, 1.0), 30.0)
        self.next_at = 0.0
        self.thread: threading.Thread | None = None
        self.problem: str | None = None

    def due(self, worker: Program, now: float) -> bool:
        # A fresh worker has not taken a tick yet: judge it only after a whole stale period of its own.
        return now >= self.next_at and now - worker.started >= self.stale and not self.thread

    def start(self, now: float) -> None:
        self.next_at = now + self.every
        self.problem = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        command = [sys.executable, "manage.py", "health", "worker", self.hostname, f"--stale-seconds={self.stale}"]
        answer = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if answer.returncode:
            self.problem = (answer.stderr.strip().splitlines() or ["no answer"])[-1]

    def result(self) -> str | None:
        """The problem once a finished check found one; None while it runs or when the worker is healthy."""
        if self.thread and not self.thread.is_alive():
            self.thread = None
            return self.problem
        return None


def start(env: dict[str, str], names: list[str]) -> int:
    """Run the chosen Procfile processes until Ctrl-C (or SIGTERM), restarting any that dies or gets stuck."""
    # Only honcho's Procfile parser is used: its Manager stops every program as soon as one exits and cannot
    # restart one, so the supervising loop is ours.
    from honcho.environ import parse_procfile

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    hostname = f"celery@{socket.gethostname()}"
    programs = {name: Program(name, procfile.processes[name]) for name in names}
    # Named explicitly so the heartbeat the worker records is the one the stuck check reads.
    programs["worker"].command += f" --hostname {hostname}"
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    lines: queue.Queue = queue.Queue()
    check = StuckWorkerCheck(env, hostname)
    for program in programs.values():
        program.launch(env, lines)
    while not stopping.is_set():
        drain(lines, wait=0.2)
        now = time.monotonic()
        for program in programs.values():
            supervise(program, env, lines, now)
        worker = programs["worker"]
        if worker.restart_at is None and check.due(worker, now):
            check.start(now)
        problem = check.result()
        if problem and worker.restart_at is None and worker.proc.poll() is None:
            # A stuck worker may not honour SIGTERM (or be stopped outright): kill its group, start a fresh one.
            worker.stuck_reason = problem
            worker.kill_group()
    say("stopping everything")
    stop_all(list(programs.values()))
    drain(lines, wait=0)
    return 0


def drain(lines: queue.Queue, wait: float) -> None:
    """Print the programs' lines waiting now (after up to `wait` s for a first one), a bounded batch at a time so a
    chatty program cannot keep the loop from noticing a death."""
    with contextlib.suppress(queue.Empty):
        name, line = lines.get(timeout=wait) if wait else lines.get_nowait()
        say(line, name)
        for _ in range(500):
            name, line = lines.get_nowait()
            say(line, name)


def supervise(program: Program, env: dict[str, str], lines: queue.Queue, now: float) -> None:
    """Note a program that died, and start it again once its backoff has passed."""
    if program.restart_at is not None:
        if now >= program.restart_at:
            program.launch(env, lines)
        return
    code = program.proc.poll()
    if code is None:
        return
    # Its children (Celery's pool, gunicorn's workers) must not outlive it and hold ports or take tasks.
    program.kill_group()
    if program.stuck_reason:
        say(f"{program.name} was stuck ({program.stuck_reason}): killed, restarting it now")
        program.restart_at = now
        return
    if now - program.started >= RESTART_RESET_AFTER:
        program.backoff = RESTART_BACKOFF
    say(f"{program.name} died (exit code {code}): restarting it in {program.backoff:g} s")
    program.restart_at = now + program.backoff
    program.backoff = min(program.backoff * 2, RESTART_BACKOFF_CAP)


def stop_all(programs: list[Program]) -> None:
    """SIGTERM to each program's main process only: Celery and gunicorn stop their own children in order.

    A Celery worker whose pool processes get the signal too can hang in its warm shutdown; each group still gets
    SIGKILL after KILL_WAIT, and at the end in any case, so nothing is left behind.
    """
    running = [p for p in programs if p.restart_at is None and p.proc.poll() is None]
    for program in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(program.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_WAIT
    for program in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            program.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for program in programs:
        if program.proc.poll() is None:
            say(f"{program.name} did not stop within {KILL_WAIT:g} s: killed")
        program.kill_group()
        program.proc.wait()


def main() -> int:
    # Our lines must come before the children's, also when the output is a pipe.
    sys.stdout.reconfigure(line_buffering=True)
    env = base_env()
    if not port_free(env["WEB_HOST"], int(env["PORT"])):
        print(f"Port {env['PORT']} on {env['WEB_HOST']} is taken: stop what uses it or run `PORT=8001 make run`.")
        return 1
    env.update(broker_env(env))
    extra, names = mode_env(env)
    env.update(extra)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "demo_setup")
    print(f"\nThe dashboard: http://{env['WEB_HOST']}:{env['PORT']}/  (Ctrl-C stops everything)\n")
    return start(env, names)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
    except KeyboardInterrupt:
        sys.exit(130)
