"""What the dashboard's benchmarks share: Django set-up on a chosen database, the simulator in its own process,
the machine's description, medians and percentiles, and the result files that `bench/report.py` turns into
docs/benchmarks.md.

Every benchmark is a script (`.venv/bin/python bench/<name>.py --help`) that writes `var/bench/<name>.json`
(or `$BENCH_RESULTS/<name>.json`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
# bench/run_all.py points small runs elsewhere, so they never overwrite the figures the docs are made from.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "var" / "bench")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
SIM_KEY = "bench-key"


# --- Django on a database of our own ---------------------------------------------------------------------------


def pg_url(name: str) -> str:
    return f"{PG_URL.rstrip('/')}/{name}"


def own_db(name: str) -> str:
    """A benchmark's scratch database name plus $BENCH_DB_SUFFIX, so people sharing a server never drop each other's."""
    return name + os.environ.get("BENCH_DB_SUFFIX", "")


def pg_create(name: str, *, fresh: bool = False) -> str:
    """Create the PostgreSQL database `name` if it is missing (dropping it first when fresh); returns its URL."""
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name)


def django_setup(database_url: str, **env: str) -> None:
    """Point Django at the database (before anything imports settings), set it up and migrate quietly."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def sqlite_url(name: str) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
    return f"sqlite:///{path}"


# --- The simulator in its own process ---------------------------------------------------------------------------


class SimulatorProcess:
    """`manage.py runpod_simulator` in a child process, so it never shares the measured process's GIL.

    `config` has the shape of `simulator.config.SimulatorConfig` and goes through a `--config` file.
    """

    def __init__(self, **config):
        config.setdefault("api_key", SIM_KEY)
        self.config = config
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._config_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v2"

    def start(self) -> SimulatorProcess:
        self._config_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(self.config, self._config_file)
        self._config_file.close()
        command = [sys.executable, "manage.py", "runpod_simulator", "--port", str(self.port)]
        command += ["--config", self._config_file.name]
        env = {**os.environ, "DATABASE_URL": "sqlite:///:memory:"}
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120  # Django starts slowly on a machine this busy
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/_sim/stats", timeout=1, trust_env=False).status_code == 200:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit("the simulator did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._config_file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._config_file.name)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def control(self, method: str, path: str, payload=None):
        response = httpx.request(method, f"{self.url}/_sim/{path}", json=payload, timeout=30, trust_env=False)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def configure(self, **changes) -> dict:
        return self.control("POST", "config", changes)

    def reset(self) -> None:
        self.control("POST", "reset")

    def cpu_seconds(self) -> float:
        """CPU time the simulator process has used so far (user + system), from /proc."""
        return process_cpu_seconds(self.proc.pid)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def submit_many(base_url: str, endpoint_id: str, bodies: list[dict], *, concurrency: int = 64) -> list[str]:
    """POST /run for every body (the simulator's /run limit must be off or high enough); returns the job ids."""
    import asyncio

    from jobs import runpod

    ids: list[str | None] = [None] * len(bodies)
    semaphore = asyncio.Semaphore(concurrency)
    async with runpod.make_async_http(max_connections=concurrency) as http:
        client = runpod.AsyncRunPodClient(
            endpoint_id, SIM_KEY, base_url=base_url, http=http, limiter=runpod.RateLimiter.unlimited()
        )

        async def one(index: int, body: dict) -> None:
            async with semaphore:
                ids[index] = (await client.run(body["input"], policy=body.get("policy"))).id

        await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))
    return [job_id for job_id in ids if job_id]


# --- Figures ---------------------------------------------------------------------------------------------------


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values, fraction: float) -> float:
    """Linear-interpolated percentile (as numpy's default and PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def machine() -> dict:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        names = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory_gib = round(memory_kib / 1024 / 1024)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_average": [round(n, 2) for n in os.getloadavg()],
    }


def postgres_version(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def new_result(name: str, argv: list[str] | None) -> dict:
    args = sys.argv[1:] if argv is None else argv
    return {
        "benchmark": name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([".venv/bin/python", f"bench/{name}.py", *args]),
        "machine": machine(),
    }


def write_result(name: str, result: dict, path: str | None = None) -> Path:
    """Write the result as JSON to var/bench/<name>.json (or `path`) and print it."""
    result["machine"]["load_average_end"] = [round(n, 2) for n in os.getloadavg()]
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))
    return target


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
