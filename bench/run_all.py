"""Run every benchmark in bench/, each in its own process, and (with --full) write the figures to
docs/benchmarks.md.

    .venv/bin/python bench/run_all.py                # `make bench`: small sizes, a few minutes
    .venv/bin/python bench/run_all.py --full         # `make bench-full`: the sizes quoted in docs/benchmarks.md
    .venv/bin/python bench/run_all.py --only poll_capacity,page_speed --docs

Results of a full run go to var/bench/<name>.json (and .log), those of a small run to var/bench/small/, so a
quick check never replaces the figures the docs are made from; a benchmark that fails is reported and the
others still run. Only --full (or --docs) touches the docs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"

# name: (script, small arguments, full arguments)
BENCHMARKS = {
    "simulator_load": ("simulator_load.py", ["--runs", "2", "--duration", "2", "--jobs", "200"], []),
    "client_transport": ("client_transport.py", ["--seconds", "1", "--runs", "1"], []),
    "poll_capacity": ("poll_capacity.py", ["--small"], ["--concurrency", "32,64,128"]),
    "poll_capacity_sqlite": (
        "poll_capacity.py",
        ["--small", "--db", "sqlite", "--runs", "2", "--variants", "steady"],
        ["--db", "sqlite", "--runs", "3", "--variants", "steady"],
    ),
    "capture": ("capture.py", ["--small"], []),
    "page_speed": ("page_speed.py", ["--small"], []),
    "overview_scale": ("overview_scale.py", ["--small"], []),
    "memory": ("memory.py", ["--small"], []),
    "stream_latency": ("stream_latency.py", ["--small"], []),
    "proxy_overhead": ("proxy_overhead.py", ["--small"], []),
    "bulk_cancel": ("bulk_cancel.py", ["--runs", "1", "--jobs", "200", "--db", "sqlite"], []),
    "api_scale": ("api_scale.py", ["--small", "--runs", "1", "--scrapes", "3"], []),
}
# These write their own JSON under their own option; the others write var/bench/<name>.json themselves.
JSON_OPTION = {"simulator_load": "--json"}


def results_dir(full: bool) -> Path:
    return RESULTS if full else RESULTS / "small"


def run(name: str, full: bool) -> tuple[bool, float]:
    script, small, large = BENCHMARKS[name]
    results = results_dir(full)
    command = [sys.executable, str(ROOT / "bench" / script), *(large if full else small)]
    if name in JSON_OPTION:
        command += [JSON_OPTION[name], str(results / f"{name}.json")]
    log_path = results / f"{name}.log"
    print(f"== {name}: {' '.join(command[1:])} (log: {log_path.relative_to(ROOT)})", flush=True)
    started = time.monotonic()
    env = {**os.environ, "BENCH_RESULTS": str(results)}
    with open(log_path, "w") as log:
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    elapsed = time.monotonic() - started
    print(f"   {'ok' if code == 0 else f'FAILED (exit {code})'} in {elapsed:.0f} s", flush=True)
    return code == 0, elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the sizes quoted in docs/benchmarks.md")
    parser.add_argument("--only", help=f"comma-separated, among: {', '.join(BENCHMARKS)}")
    parser.add_argument("--docs", action="store_true", help="write the docs even after a small run")
    parser.add_argument("--no-docs", action="store_true", help="do not write the docs after a full run")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    results_dir(args.full).mkdir(parents=True, exist_ok=True)
    outcomes = {name: run(name, args.full) for name in names}
    failed = [name for name, (ok, _) in outcomes.items() if not ok]
    total = sum(elapsed for _, elapsed in outcomes.values())
    print(f"== {len(names) - len(failed)} of {len(names)} benchmarks ran in {total / 60:.1f} min", flush=True)
    if (args.full or args.docs) and not args.no_docs:
        from bench.report import load_results, update_docs

        updated = update_docs(load_results(results_dir(args.full)))
        print(f"== docs/benchmarks.md: updated {', '.join(updated)}")
    if failed:
        print(f"== failed: {', '.join(failed)} (see {results_dir(args.full).relative_to(ROOT)}/<name>.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
