"""Status requests per second that the simulator serves, so other benchmarks can show it is not their bottleneck.

Starts `manage.py runpod_simulator` in its own process (no added latency, rate limits off), submits some jobs,
waits for them to finish, then loads `GET /v2/bench/status/{id}` round-robin over the ids for a few seconds,
several times, and reports the median. Two drivers:
- `wrk` (C, `apt-get install wrk`): the simulator's ceiling, the load generator costing little CPU;
- `python`: asyncio + httpx on the aiohttp transport, the stack the dashboard's poller uses.

    .venv/bin/python bench/simulator_load.py                      # both drivers (wrk if installed), 5 runs
    .venv/bin/python bench/simulator_load.py --driver python --processes 2 --runs 3 --json var/sim-bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.ports import free_port  # noqa: E402 - after the repository root is on the path

KEY = "bench-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
WRK_SCRIPT = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  i = i %% #ids + 1
  return wrk.format("GET", "/v2/bench/status/" .. ids[i])
end
"""


def start_simulator(port: int) -> subprocess.Popen:
    command = [
        sys.executable, "manage.py", "runpod_simulator", "--port", str(port), "--latency-ms", "0",
        "--rate-limits", "off", "--seed", "1", "--endpoint", "bench:min_workers=20,max_workers=20,cold_start=0",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the simulator did not start")


def submit_jobs(base: str, count: int) -> list[str]:
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as http:
        ids = [http.post("/bench/run", json={"input": {"simulate": {"seconds": 0}}}).json()["id"] for _ in range(count)]
        deadline = time.monotonic() + 60
        while http.get("/bench/health").json()["jobs"]["completed"] < count:
            if time.monotonic() > deadline:
                raise SystemExit("the seeded jobs did not complete")
            time.sleep(0.1)
    return ids


def run_wrk(url: str, ids_file: str, connections: int, duration: float) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (ids_file, KEY))
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "-s", script.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw error answers:\n{output}")
    line = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
    return float(line.split()[1])


async def python_load(base: str, ids: list[str], connections: int, duration: float) -> float:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    transport = AiohttpTransport(limits=limits)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, transport=transport, timeout=10) as http:
        counts = [0] * connections
        errors = []
        stop_at = time.monotonic() + duration

        async def loop(slot: int) -> None:
            index = slot
            while time.monotonic() < stop_at:
                response = await http.get(f"/bench/status/{ids[index % len(ids)]}")
                if response.status_code != 200:
                    errors.append(response.status_code)
                counts[slot] += 1
                index += connections

        started = time.monotonic()
        await asyncio.gather(*(loop(slot) for slot in range(connections)))
        elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"error answers during the load: {sorted(set(errors))}")
    return sum(counts) / elapsed


def python_process(base: str, ids: list[str], connections: int, duration: float) -> float:
    return asyncio.run(python_load(base, ids, connections, duration))


def python_parallel(base: str, ids: list[str], args: argparse.Namespace) -> float:
    """The asyncio driver in --processes processes at once (one Python process saturates its own core)."""
    if args.processes == 1:
        return python_process(base, ids, args.connections, args.duration)
    per_process = max(1, args.connections // args.processes)
    with ProcessPoolExecutor(args.processes) as pool:
        runs = [pool.submit(python_process, base, ids, per_process, args.duration) for _ in range(args.processes)]
        return sum(run.result() for run in runs)


def measure(driver: str, args: argparse.Namespace, base: str, ids: list[str], ids_file: str) -> dict:
    results = []
    for _ in range(args.runs):
        if driver == "wrk":
            rps = run_wrk(base.removesuffix("/v2"), ids_file, args.connections, args.duration)
        else:
            rps = python_parallel(base, ids, args)
        results.append(round(rps))
    name = driver if driver == "wrk" or args.processes == 1 else f"python x{args.processes}"
    return {"driver": name, "median_rps": statistics.median(results), "runs_rps": results}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--driver", choices=("wrk", "python", "both"), default="both")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, default=1, help="processes of the python driver")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs whose status is read round-robin")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    drivers = ["wrk", "python"] if args.driver == "both" else [args.driver]
    if "wrk" in drivers and not shutil.which("wrk"):
        if args.driver == "wrk":
            raise SystemExit("wrk is not installed (apt-get install wrk)")
        drivers.remove("wrk")
    port = free_port()
    proc = start_simulator(port)
    try:
        base = f"http://127.0.0.1:{port}/v2"
        ids = submit_jobs(base, args.jobs)
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as ids_file:
            ids_file.write("\n".join(ids) + "\n")
        try:
            measurements = [measure(driver, args, base, ids, ids_file.name) for driver in drivers]
        finally:
            os.unlink(ids_file.name)
    finally:
        proc.terminate()
        proc.wait(10)
    report = {
        "benchmark": "simulator status requests per second",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "bench/simulator_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "connections": args.connections,
        "duration_s": args.duration,
        "results": measurements,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
