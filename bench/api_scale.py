"""The API at scale on PostgreSQL: a CSV export of every job in bounded memory, and the cost of a /metrics scrape.

Export: a fresh process (so nothing else has grown its heap) asks the export route for every job of the seeded
database (bench/seed_scale.py: --jobs jobs, default 1,000,000) through Django's test client with an API token,
and writes the streamed body to a file as it arrives. Its resident memory is sampled all along; the kernel's
high-water mark is reset (`/proc/self/clear_refs`) after an empty warm-up export, so the figure is the growth
the big export itself causes. Then Python's csv module reads the file back and every row is compared, column by
column, with the database read in the same order: nothing missing, nothing doubled, every value as stored. The
same export as NDJSON is timed too.

Metrics: /metrics through the same client, --scrapes times: the first scrape of a fresh tally (it sums every
transition ever stored, once) and then steady scrapes (what Prometheus pays every 15 s), wall and CPU time.

    .venv/bin/python bench/api_scale.py                      # 1,000,000 jobs in the bench_api database
    .venv/bin/python bench/api_scale.py --small              # 100,000 jobs
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, django_setup, log, new_result, own_db, pg_create, postgres_version, write_result

NAME = "api_scale"
MIB = 1024 * 1024


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--database", default="bench_api")
    parser.add_argument("--runs", type=int, default=3, help="CSV exports measured (default 3)")
    parser.add_argument("--scrapes", type=int, default=10, help="steady /metrics scrapes (default 10)")
    parser.add_argument("--no-ndjson", action="store_true", help="skip the NDJSON export (on a loaded machine)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (100_000 if args.small else 1_000_000)
    args.database = own_db(args.database)
    return args


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def hwm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


class Sampler(threading.Thread):
    """The largest RSS seen every 10 ms (a check on VmHWM, which some kernels cannot reset)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stopped = rss_bytes(), threading.Event()

    def run(self):
        while not self.stopped.wait(0.01):
            self.peak = max(self.peak, rss_bytes())


def api_client():
    from django.contrib.auth.models import User
    from django.test import Client

    from api import tokens

    user, _ = User.objects.get_or_create(username="bench-api", defaults={"is_superuser": True})
    _, raw = tokens.token_create(user=user, name="bench")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def export_once(client, fmt: str, path: Path, query: dict | None = None) -> dict:
    """One export streamed to a file; wall, CPU, bytes and memory growth while it ran."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before, sampler = rss_bytes(), Sampler()
    sampler.start()
    cpu, started = time.process_time(), time.monotonic()
    response = client.get("/api/v1/jobs/export", {"format": fmt, **(query or {})})
    assert response.status_code == 200, response.status_code
    size = 0
    with path.open("wb") as out:
        for piece in response.streaming_content:
            out.write(piece)
            size += len(piece)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    sampler.stopped.set()
    sampler.join()
    return {
        "format": fmt,
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "bytes": size,
        "rss_before_mib": round(before / MIB, 1),
        "peak_growth_mib": round((max(hwm_bytes(), sampler.peak) - before) / MIB, 1),
    }


def verify_csv(path: Path) -> dict:
    """Read the CSV back with the csv module and compare every row with the database, in the same order."""
    from api import exports
    from jobs.models import Job

    expected = (
        Job.objects.order_by("-created_at", "-id")
        .values_list("id", "runpod_id", "endpoint__name", "status", "created_at", "delay_ms", "submitted_by__username")
        .iterator(chunk_size=5000)
    )
    names = [name for name, _ in exports.COLUMNS]
    rows = mismatches = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        for row, db in zip(reader, expected, strict=True):
            got = dict(zip(names, row, strict=True))
            want = [str(db[0]), db[1] or "", db[2], db[3], db[4].isoformat(), "" if db[5] is None else str(db[5])]
            have = [got["id"], got["runpod_id"], got["endpoint"], got["status"], got["created_at"], got["delay_ms"]]
            mismatches += want != have or got["submitted_by"] != (db[6] or "")
            rows += 1
    return {"rows": rows, "header_ok": header == names, "mismatched_rows": mismatches}


def scrape(client) -> tuple[float, float, int]:
    cpu, started = time.process_time(), time.monotonic()
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    return time.monotonic() - started, time.process_time() - cpu, len(response.content)


def measure_metrics(client, scrapes: int) -> dict:
    from django.conf import settings
    from django.db import connection

    from api.models import MetricMark, MetricTally

    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    MetricTally.objects.all().delete()
    MetricMark.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_statustransition")
        transitions = cursor.fetchone()[0]
    first = scrape(client)
    steady = [scrape(client) for _ in range(scrapes)]
    return {
        "transitions": transitions,
        "first_scrape_seconds": round(first[0], 2),
        "steady_seconds_median": round(statistics.median(s[0] for s in steady), 3),
        "steady_seconds_max": round(max(s[0] for s in steady), 3),
        "steady_cpu_seconds_median": round(statistics.median(s[1] for s in steady), 3),
        "bytes": steady[-1][2],
        "scrapes": scrapes,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    url = pg_create(args.database)
    django_setup(url)
    from bench import seed_scale

    seed_scale.DATABASE = args.database
    seeding = seed_scale.ensure(args.jobs)
    from django.conf import settings

    settings.API_RATE_LIMIT = 0
    settings.ALLOWED_HOSTS = ["testserver"]
    client = api_client()
    result = new_result(NAME, argv)
    result.update(jobs=args.jobs, database=args.database, postgres=postgres_version(url), seeding=seeding)
    out = RESULTS / "api_export.csv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    export_once(client, "csv", out, {"status": "NO_SUCH_STATUS"})  # warm-up: every import, no rows
    runs = []
    for n in range(args.runs):
        runs.append(export_once(client, "csv", out))
        log(f"csv export {n + 1}: {runs[-1]}")
    result["csv_runs"] = runs
    result["csv_check"] = verify_csv(out)
    log(f"csv check: {result['csv_check']}")
    if not args.no_ndjson:
        result["ndjson_run"] = export_once(client, "ndjson", RESULTS / "api_export.ndjson")
        log(f"ndjson export: {result['ndjson_run']}")
    for path in (out, RESULTS / "api_export.ndjson"):
        path.unlink(missing_ok=True)
    result["metrics"] = measure_metrics(client, args.scrapes)
    log(f"metrics: {result['metrics']}")
    growth = max(run["peak_growth_mib"] for run in runs)
    result["summary"] = {
        "rows": result["csv_check"]["rows"],
        "csv_seconds_median": statistics.median(run["seconds"] for run in runs),
        "rows_per_second": round(args.jobs / statistics.median(run["seconds"] for run in runs)),
        "peak_growth_mib_max": growth,
        "bounded_memory": growth < 100,
        "round_trip_ok": result["csv_check"]["rows"] == args.jobs
        and result["csv_check"]["mismatched_rows"] == 0
        and result["csv_check"]["header_ok"],
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
