"""`make run`: the dashboard with everything it needs, in the foreground; one Ctrl-C stops all of it.

1. Choose the broker: Redis at REDIS_URL (or CELERY_BROKER_URL) if one answers, else the embedded one (message
   files in var/celery-broker/, one machine only).
2. Choose the mode: real RunPod endpoints when RUNPOD_API_KEY is set, else the demo (simulator plus demo traffic).
3. Migrate, collect static files, create the logins and endpoints (`demo_setup`), print how to get in.
4. Start the Procfile's processes under honcho: web, worker and beat, plus sim and traffic in the demo.

The defaults suit one machine: SQLite in var/, the web server on 127.0.0.1:8000 (WEB_HOST and PORT change it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
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


def start(env: dict[str, str], names: list[str]) -> int:
    """Run the chosen Procfile processes until one stops or Ctrl-C; then stop the others."""
    import honcho.manager
    from honcho.compat import ProcessManager
    from honcho.environ import parse_procfile
    from honcho.printer import Printer

    class MainProcessFirst(ProcessManager):
        """SIGTERM to each program's main process only: Celery and gunicorn stop their own children in order.

        honcho signals the whole process group, and a Celery worker whose pool processes die under it can hang in
        its warm shutdown; the group still gets SIGKILL if anything is left after KILL_WAIT.
        """

        def terminate(self, pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    # A Celery worker on the embedded broker needs about 7 s for a warm shutdown (honcho's default wait is 5 s).
    honcho.manager.KILL_WAIT = 15
    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = honcho.manager.Manager(Printer(sys.stdout, colour=sys.stdout.isatty()))
    manager._procmgr = MainProcessFirst()
    for name in names:
        # exec: the pid honcho signals is the program itself, not the shell around it.
        manager.add_process(name, f"exec {procfile.processes[name]}", env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


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
