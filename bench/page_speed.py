"""Server time of the dashboard's pages on a million jobs, against Django admin's changelist of the same table.

1. Seeds (once) the PostgreSQL database `bench_pages` with bench/seed_scale.py: --jobs jobs over a week on 10
   endpoints, their transitions, some streams, and a week of 10-second health snapshots per endpoint.
2. Logs in a superuser with Django's test Client (in this process: no network, no browser) and requests every
   page a few times to warm the caches, then --iterations rounds of every page in turn, so a burst of noise
   from the machine falls on all pages alike. A page's time is the whole request: middleware, session, view,
   queries and template.
3. Counts the queries of one request per page, and reports median and p95 per page, each with its target and
   its ratio to the admin page that does the same job.

    .venv/bin/python bench/page_speed.py                    # 1,000,000 jobs, 40 rounds
    .venv/bin/python bench/page_speed.py --small            # 100,000 jobs, 10 rounds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    django_setup,
    log,
    median,
    new_result,
    percentile,
    pg_create,
    postgres_version,
    write_result,
)

NAME = "page_speed"
ADMIN_PAGE_SIZE = 100
OUR_PAGE_SIZE = 50
DEEP_ROW = 500_000
# (median, p95) in ms, from the issue.
TARGETS = {"list": (15, 30), "job": (15, 30), "summary": (30, 60), "text": (100, 200)}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="100,000 jobs, 10 rounds")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--database", help="default bench_pages (bench_pages_small with --small)")
    parser.add_argument("--json")
    parser.add_argument("--pages", help="only these pages, by key, comma-separated (e.g. jobs,jobs_text,admin_text)")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (100_000 if args.small else 1_000_000)
    args.iterations = args.iterations or (10 if args.small else 40)
    args.database = args.database or ("bench_pages_small" if args.small else "bench_pages")
    return args


def prepare_environment() -> None:
    """Production settings, but a host name the test Client uses and static files collected where we say."""
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    os.environ["STATIC_ROOT"] = str(RESULTS / "static")
    os.environ.setdefault("DEBUG", "no")


def collect_static() -> None:
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def page_context(jobs: int) -> dict:
    """The rows the pages point at: an endpoint, a deep position, an old job's id, a finished and a streamed job."""
    from jobs.models import Endpoint, Job
    from jobs.selectors import Cursor

    endpoint = Endpoint.objects.get(name="scale-3")
    depth = min(DEEP_ROW, jobs - 1)
    deep = Job.objects.order_by("-created_at", "-id").values("created_at", "id")[depth]
    old = Job.objects.order_by("-created_at", "-id").values("id", "runpod_id")[int(jobs * 0.9)]
    finished = Job.objects.filter(status="COMPLETED", streaming=False).order_by("-id").values("id")[jobs // 3]
    streamed = Job.objects.filter(streaming=True, status="COMPLETED").order_by("-id").values("id")[0]
    return {
        "endpoint": endpoint.pk,
        "deep_cursor": Cursor(deep["created_at"], deep["id"]).encode(),
        "deep_row": depth,
        "admin_deep_page": depth // ADMIN_PAGE_SIZE + 1,
        "old_id": old["runpod_id"],
        "job": finished["id"],
        "stream_job": streamed["id"],
    }


def pages(ctx: dict) -> list[dict]:
    """Every page measured: (key, what it is, URL, target group, the admin page it is compared with)."""
    e = ctx["endpoint"]
    admin = "/admin/jobs/job/"
    return [
        {"key": "overview", "label": "Overview", "url": "/", "group": "summary", "vs": "admin_list"},
        {"key": "jobs", "label": "Jobs list", "url": "/jobs/", "group": "list", "vs": "admin_list"},
        {
            "key": "jobs_filtered",
            "label": "Jobs list, one endpoint and status",
            "url": f"/jobs/?endpoint={e}&status=FAILED",
            "group": "list",
            "vs": "admin_filtered",
        },
        {
            "key": "jobs_deep",
            "label": f"Jobs list, {ctx['deep_row']:,} rows deep",
            "url": f"/jobs/?after={ctx['deep_cursor']}",
            "group": "list",
            "vs": "admin_deep",
        },
        {
            "key": "jobs_id",
            "label": "Jobs list, search by job id",
            "url": f"/jobs/?q={ctx['old_id']}",
            "group": "list",
            "vs": "admin_id",
        },
        {
            "key": "jobs_text",
            "label": "Jobs list, text search (word common in inputs)",
            "url": "/jobs/?q=lighthouse",
            "group": "text",
            "vs": "admin_text",
        },
        {
            "key": "jobs_text_rare",
            "label": "Jobs list, text search (no match: all 10,000 jobs of the window read)",
            "url": "/jobs/?q=zeppelin",
            "group": "text",
            "vs": "admin_text",
        },
        {
            "key": "jobs_text_error",
            "label": "Jobs list, text search (words only in errors)",
            "url": "/jobs/?q=out+of+memory",
            "group": "text",
            "vs": "admin_text",
        },
        {"key": "job", "label": "Job page", "url": f"/jobs/{ctx['job']}/", "group": "job", "vs": "admin_job"},
        {
            "key": "job_stream",
            "label": "Job page, streamed job",
            "url": f"/jobs/{ctx['stream_job']}/",
            "group": "job",
            "vs": "admin_job",
        },
        {"key": "endpoint", "label": "Endpoint page (1 h)", "url": f"/endpoints/{e}/", "group": "summary"},
        {
            "key": "endpoint_7d",
            "label": "Endpoint page (7 days)",
            "url": f"/endpoints/{e}/?window=7d",
            "group": "summary",
            "vs": "admin_list",
        },
        {"key": "admin_list", "label": "Admin changelist", "url": admin, "group": "admin"},
        {
            "key": "admin_filtered",
            "label": "Admin, one endpoint and status",
            "url": f"{admin}?endpoint__id__exact={e}&status__exact=FAILED",
            "group": "admin",
        },
        {
            "key": "admin_deep",
            "label": f"Admin, page {ctx['admin_deep_page']:,} (OFFSET)",
            "url": f"{admin}?p={ctx['admin_deep_page']}",
            "group": "admin",
        },
        {"key": "admin_id", "label": "Admin, search by job id", "url": f"{admin}?q={ctx['old_id']}", "group": "admin"},
        {"key": "admin_text", "label": "Admin, search for a word", "url": f"{admin}?q=lighthouse", "group": "admin"},
        {
            "key": "admin_job",
            "label": "Admin, job change page",
            "url": f"{admin}{ctx['job']}/change/",
            "group": "admin",
        },
    ]


def client_for_admin():
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    return client


def count_queries(client, url) -> tuple[int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return len(queries), response.status_code, len(response.content)


def measure(client, page_list, iterations) -> tuple[dict, dict]:
    """Wall time of each request (the figure) and the CPU time this process spent on it (Python's share)."""
    for page in page_list:
        for _ in range(3):
            client.get(page["url"])
    times: dict[str, list[float]] = {page["key"]: [] for page in page_list}
    cpu: dict[str, list[float]] = {page["key"]: [] for page in page_list}
    for n in range(iterations):
        for page in page_list:
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get(page["url"])
            times[page["key"]].append((time.perf_counter() - started) * 1000)
            cpu[page["key"]].append((time.process_time() - started_cpu) * 1000)
        if n % 10 == 9:
            log(f"round {n + 1} of {iterations}")
    return times, cpu


def summarise(page_list, times, cpu, client) -> list[dict]:
    rows = {}
    for page in page_list:
        queries, status, size = count_queries(client, page["url"])
        samples = times[page["key"]]
        rows[page["key"]] = {
            **page,
            "status": status,
            "bytes": size,
            "queries": queries,
            "median_ms": round(median(samples), 2),
            "p95_ms": round(percentile(samples, 0.95), 2),
            "cpu_median_ms": round(median(cpu[page["key"]]), 2),
        }
    for row in rows.values():
        target = TARGETS.get(row["group"])
        if target:
            row["target_median_ms"], row["target_p95_ms"] = target
            row["meets_target"] = row["median_ms"] <= target[0] and row["p95_ms"] <= target[1]
        compared = rows.get(row.get("vs") or "")
        if compared:
            row["admin_median_ms"] = compared["median_ms"]
            row["speedup_vs_admin"] = round(compared["median_ms"] / row["median_ms"], 1)
    return list(rows.values())


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    prepare_environment()
    url = pg_create(args.database)
    django_setup(url)
    from bench.seed_scale import ensure

    seeding = ensure(args.jobs)
    collect_static()
    ctx = page_context(args.jobs)
    client = client_for_admin()
    page_list = [page for page in pages(ctx) if not args.pages or page["key"] in args.pages.split(",")]
    times, cpu = measure(client, page_list, args.iterations)
    import django

    result.update(
        jobs=args.jobs,
        iterations=args.iterations,
        database=args.database,
        postgres=postgres_version(url),
        django=django.get_version(),
        seeding=seeding,
        pages=summarise(page_list, times, cpu, client),
    )
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
