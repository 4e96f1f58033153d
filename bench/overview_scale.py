"""The overview and the endpoint page as the number of endpoints grows: 10, 50, 100 and 200 endpoints, 1,000,000
jobs spread over them and a week of 10-second health snapshots for each (60,480 per endpoint), on PostgreSQL.

1. Seeds (once per size) the database `bench_overview_<n>`: jobs and snapshots with bench/seed_scale.py's SQL (no
   transitions or stream chunks: neither page reads them), plus a few endpoints that need attention (a refused
   key, unhealthy workers) so the attention sort has work to do.
2. In one process per size (Django set up on that database, the cache in Redis under a private prefix), logs in
   a superuser with Django's test Client, warms every page, then runs --iterations rounds of every page in turn:
   the overview (cards, table, a search, the attention sort, the second page), the live refresh when nothing
   changed (a conditional request answered 304) and after one endpoint's new snapshot (only its card comes
   back), and the endpoint page over every window.
3. Reports median and p95 server time, CPU time, bytes and queries per page and size, and the overview's slope in
   ms per endpoint (least squares over the sizes at or beyond the first page of cards, and over all of them).

    .venv/bin/python bench/overview_scale.py                        # 10, 50, 100, 200 endpoints, 60 rounds
    .venv/bin/python bench/overview_scale.py --small                # 10 and 50 endpoints, 100,000 jobs
    .venv/bin/python bench/overview_scale.py --sizes 100 --iterations 200
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    django_setup,
    log,
    median,
    new_result,
    percentile,
    pg_create,
    postgres_version,
    write_result,
)

NAME = "overview_scale"
MARKER = "bench.overview_scale"
DAYS = 7
SNAPSHOT_SECONDS = 10
# (median, p95) in ms, from issue 18.
TARGETS = {"overview": (30, 60), "refresh_unchanged": (5, None), "endpoint": (30, None)}
REFRESH_UNCHANGED_BYTES = 2048
SLOPE_TARGET_MS = 0.1
WINDOWS = ("15m", "1h", "6h", "24h", "7d")

SNAPSHOTS_SQL = """
INSERT INTO jobs_healthsnapshot (
    endpoint_id, taken_at, jobs_completed, jobs_failed, jobs_in_progress, jobs_in_queue, jobs_retried,
    workers_idle, workers_initializing, workers_ready, workers_running, workers_throttled, workers_unhealthy, raw
)
SELECT e.id, now() - make_interval(secs => %(step)s * s), 100000 - s, 5000 - s / 20,
       (5 + 4 * sin(s / 360.0))::int, greatest(0, (20 * sin(s / 1000.0 + e.id))::int), 0,
       (2 + 2 * cos(s / 500.0))::int, s %% 2, (2 + 2 * cos(s / 500.0))::int, (5 + 4 * sin(s / 360.0))::int, 0,
       CASE WHEN e.id %% 15 = 4 THEN 2 ELSE 0 END,
       NULL
FROM jobs_endpoint e CROSS JOIN generate_series(0, %(snapshots)s - 1) AS s
"""


def database_name(endpoints: int, jobs: int) -> str:
    """One database per size; a small run's own, so it never replaces the full-size data."""
    return f"bench_overview_{endpoints}" if jobs == 1_000_000 else f"bench_overview_{endpoints}_{jobs}"


def seeded(connection) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('jobs_job'::regclass, 'pg_class')")
        return cursor.fetchone()[0] or ""


def seed(endpoints: int, jobs: int) -> dict:
    """Endpoints scale-0..n-1, their snapshots and the jobs, unless the database already holds exactly these."""
    from django.db import connection
    from django.utils import timezone

    from bench.seed_scale import JOBS_SQL, VOCABULARY, default_new_columns
    from jobs.models import Endpoint

    marker = f"{MARKER} endpoints={endpoints} jobs={jobs}"
    if seeded(connection) == marker:
        log(f"reusing {endpoints} endpoints and {jobs} jobs")
        return {"reused": True}
    timings = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE jobs_streamchunk, jobs_statustransition, jobs_auditentry, jobs_job, jobs_healthsnapshot, "
            "jobs_endpoint RESTART IDENTITY CASCADE"
        )
    Endpoint.objects.bulk_create(
        Endpoint(name=f"scale-{i}", runpod_id=f"scale{i:03d}endpoint", base_url="http://127.0.0.1:9/v2", api_key="k")
        for i in range(endpoints)
    )
    # One endpoint in twenty has its key refused; one in fifteen reports unhealthy workers (in the SQL above).
    Endpoint.objects.filter(id__in=range(8, endpoints + 1, 20)).update(auth_failed_at=timezone.now())
    params = {
        "jobs": jobs,
        "endpoints": endpoints,
        "span": DAYS * 86400,
        "active": min(1000, jobs // 100),
        "words": VOCABULARY.split(),
        "error": '{"error_type": "RuntimeError", "error_message": "CUDA out of memory"}',
        "step": SNAPSHOT_SECONDS,
        "snapshots": DAYS * 86400 // SNAPSHOT_SECONDS,
    }
    with connection.cursor() as cursor:
        default_new_columns(cursor, "jobs_job")
        cursor.execute("SELECT setseed(0.42)")
        for name, sql in (("jobs", JOBS_SQL), ("snapshots", SNAPSHOTS_SQL)):
            started = time.monotonic()
            cursor.execute(sql, params)
            timings[name] = round(time.monotonic() - started, 1)
            log(f"{name}: {cursor.rowcount} rows in {timings[name]} s")
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = round(time.monotonic() - started, 1)
        cursor.execute(f"COMMENT ON TABLE jobs_job IS '{marker}'")
    return {"reused": False, "steps": timings}


def _pages(endpoint_pk: int, endpoints: int) -> list[dict]:
    pages = [
        {"key": "overview", "label": "Overview (cards, attention sort)", "url": "/"},
        {"key": "overview_table", "label": "Overview, table view", "url": "/?view=table"},
        {"key": "overview_search", "label": 'Overview, search "scale-1"', "url": "/?q=scale-1"},
        {"key": "overview_name", "label": "Overview, sorted by name", "url": "/?sort=name"},
    ]
    if endpoints > 24:
        pages.append({"key": "overview_page2", "label": "Overview, second page of cards", "url": "/?page=2"})
    pages += [
        {"key": f"endpoint_{w}", "label": f"Endpoint page ({w})", "url": f"/endpoints/{endpoint_pk}/?window={w}"}
        for w in WINDOWS
    ]
    return pages


def _timed(client, url, **headers):
    started, started_cpu = time.perf_counter(), time.process_time()
    response = client.get(url, **headers)
    return response, (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


def _queries(client, url, **headers) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    return len(queries)


def _row(page, samples, cpu, sizes, statuses, queries) -> dict:
    return {
        **page,
        "median_ms": round(median(samples), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
        "cpu_median_ms": round(median(cpu), 2),
        "bytes": int(median(sizes)) if sizes else 0,
        "statuses": {str(k): statuses.count(k) for k in sorted(set(statuses))},
        "queries": queries,
        "samples": len(samples),
    }


def measure_size(endpoints: int, jobs: int, iterations: int) -> dict:
    """Everything for one size, in this process (Django is set up on that size's database)."""
    from django.core.cache import cache
    from django.utils import timezone

    from bench.page_speed import client_for_admin, collect_static
    from jobs.models import Endpoint, HealthSnapshot

    seeding = seed(endpoints, jobs)
    collect_static()
    cache.clear()
    client = client_for_admin()
    endpoint_pk = Endpoint.objects.get(name="scale-3").pk
    pages = _pages(endpoint_pk, endpoints)
    hx = {"HTTP_HX_REQUEST": "true"}
    for page in pages:
        for _ in range(3):
            client.get(page["url"])
    etag = client.get("/hx/overview/", **hx)["ETag"]
    # The endpoint whose new snapshot makes the "one card changed" refresh: the first card on the first page.
    first_card = Endpoint.objects.get(pk=int(re.search(r'id="card-(\d+)"', client.get("/").content.decode())[1]))
    keys = [p["key"] for p in pages] + ["refresh_unchanged", "refresh_changed", "overview_cold"]
    times = {k: [] for k in keys}
    cpu = {k: [] for k in keys}
    sizes = {k: [] for k in keys}
    statuses = {k: [] for k in keys}

    def record(key, response, ms, cpu_ms):
        times[key].append(ms)
        cpu[key].append(cpu_ms)
        sizes[key].append(len(response.content))
        statuses[key].append(response.status_code)

    for n in range(iterations):
        for page in pages:
            record(page["key"], *_timed(client, page["url"]))
        response, ms, cpu_ms = _timed(client, "/hx/overview/", HTTP_IF_NONE_MATCH=etag, **hx)
        if response.status_code == 304:
            record("refresh_unchanged", response, ms, cpu_ms)
        etag = response["ETag"]
        latest = HealthSnapshot.objects.filter(endpoint=first_card).order_by("-taken_at").first()
        HealthSnapshot.objects.create(
            endpoint=first_card,
            taken_at=timezone.now(),
            jobs_in_queue=latest.jobs_in_queue + 1,
            workers_running=latest.workers_running,
            workers_idle=latest.workers_idle,
        )
        response, ms, cpu_ms = _timed(client, "/hx/overview/", HTTP_IF_NONE_MATCH=etag, **hx)
        record("refresh_changed", response, ms, cpu_ms)
        etag = response["ETag"]
        if n % 4 == 0:
            # Every chart drawn again: what a request costs when the cache holds none of them.
            cache.clear()
            record("overview_cold", *_timed(client, "/"))
        if n % 20 == 19:
            log(f"{endpoints} endpoints: round {n + 1} of {iterations}")
    rows = []
    for page in pages:
        rows.append(
            _row(
                page,
                times[page["key"]],
                cpu[page["key"]],
                sizes[page["key"]],
                statuses[page["key"]],
                _queries(client, page["url"]),
            )
        )
    for key, label in (
        ("refresh_unchanged", "Live refresh, nothing changed (304)"),
        ("refresh_changed", "Live refresh, one endpoint's new snapshot"),
        ("overview_cold", "Overview, every chart drawn (cache empty)"),
    ):
        rows.append(_row({"key": key, "label": label}, times[key], cpu[key], sizes[key], statuses[key], None))
    return {"endpoints": endpoints, "jobs": jobs, "iterations": iterations, "seeding": seeding, "pages": rows}


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares ms per endpoint."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread, 4) if spread else None


def run_one(args) -> None:
    os.environ.update(
        ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
        STATIC_ROOT=str(ROOT / "var" / "bench" / "static"),
        USE_REDIS_CACHE="yes",
        CACHE_KEY_PREFIX=f"bench-overview-{os.getpid()}",
    )
    os.environ.setdefault("DEBUG", "no")
    url = pg_create(database_name(args.one, args.jobs))
    django_setup(url)
    result = measure_size(args.one, args.jobs, args.iterations)
    result["postgres"] = postgres_version(url)
    Path(args.json).write_text(json.dumps(result, default=str))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="endpoint counts, comma-separated (default 10,50,100,200)")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--small", action="store_true", help="10 and 50 endpoints, 100,000 jobs, 20 rounds")
    parser.add_argument("--json")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (100_000 if args.small else 1_000_000)
    args.iterations = args.iterations or (20 if args.small else 60)
    if args.one:
        run_one(args)
        return {}
    sizes = [int(n) for n in (args.sizes or ("10,50" if args.small else "10,50,100,200")).split(",")]
    result = new_result(NAME, argv)
    runs = []
    for size in sizes:
        log(f"{size} endpoints")
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--one", str(size), "--jobs", str(args.jobs)]
            command += ["--iterations", str(args.iterations), "--json", out.name]
            subprocess.run(command, cwd=ROOT, check=True)
            runs.append(json.loads(Path(out.name).read_text()))
    by_size = {run["endpoints"]: {p["key"]: p for p in run["pages"]} for run in runs}
    points = [(n, pages["overview"]["median_ms"]) for n, pages in by_size.items()]
    beyond = [(n, ms) for n, ms in points if n >= 24]
    result.update(
        jobs=args.jobs,
        iterations=args.iterations,
        runs=runs,
        slope_ms_per_endpoint=slope(points),
        slope_beyond_first_page_ms_per_endpoint=slope(beyond),
        slope_cpu_ms_per_endpoint=slope([(n, pages["overview"]["cpu_median_ms"]) for n, pages in by_size.items()]),
        targets={
            "overview": TARGETS["overview"],
            "refresh_unchanged_ms": 5,
            "refresh_unchanged_bytes": 2048,
            "endpoint_ms": 30,
            "slope_ms_per_endpoint": SLOPE_TARGET_MS,
        },
    )
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed-only"]:
        django_setup(pg_create(database_name(int(sys.argv[2]), int(sys.argv[3]))))
        print(seed(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
