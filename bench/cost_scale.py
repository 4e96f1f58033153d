"""Cost estimates at scale on PostgreSQL: the Cost page's sums and the jobs list's filter total over the seeded
database (bench/seed_scale.py: --jobs jobs over the last week on 10 endpoints, default 1,000,000).

Half the endpoints get a price. Each measured call is the selector the page and the API use, timed --runs times
after a warm-up and with the cache emptied: the summary per endpoint, user and day over the Cost page's 7- and 30-day
windows (every seeded job is inside both), and the filter total with no filter, one endpoint, and one endpoint and
a status; then the 30-day summary again with its minute-long cache of finished jobs' sums in place. The plan
of the grouped query is kept, to see which index (if any) it reads. The sums are checked against one plain SQL
SUM(execution_ms x price) over the same jobs, so the fast path is also the right one.

    .venv/bin/python bench/cost_scale.py                 # 1,000,000 jobs in the bench_costs database
    .venv/bin/python bench/cost_scale.py --small         # 100,000 jobs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, log, new_result, own_db, pg_create, postgres_version, write_result

NAME = "cost_scale"
PRICE = Decimal("0.00076")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--database", default="bench_costs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (100_000 if args.small else 1_000_000)
    args.database = own_db(args.database)
    return args


def timed(call, runs, *, cold=True) -> dict:
    """Median and worst of runs calls; cold: with the dashboard's cache emptied before each (the Cost page keeps
    its sums of finished jobs for a minute), so the database does the whole sum every time."""
    from django.core.cache import cache

    call()  # warm-up: the first plan, and the cache for the warm runs
    seconds = []
    for _ in range(runs):
        if cold:
            cache.clear()
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return {"median_ms": round(statistics.median(seconds) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1)}


def plain_sql_total() -> Decimal:
    """The same estimate the slow, obvious way: the product summed row by row in PostgreSQL's numeric."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SUM(j.execution_ms * e.price_per_second / 1000) FROM jobs_job j "
            "JOIN jobs_endpoint e ON e.id = j.endpoint_id WHERE e.price_per_second IS NOT NULL "
            "AND NOT (j.status = 'IN_PROGRESS' AND j.started_at IS NOT NULL)"
        )
        return cursor.fetchone()[0] or Decimal(0)


def grouped_plan(since, until) -> list[str]:
    from django.db import connection
    from django.db.models import Count, Q, Sum
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from jobs.models import Job
    from jobs.selectors.costs import RUNNING

    qs = (
        Job.objects.filter(created_at__gte=since, created_at__lt=until)
        .exclude(RUNNING)
        .values("endpoint_id", "submitted_by_id", day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .annotate(ms=Sum("execution_ms", default=0), untimed=Count("id", filter=Q(execution_ms__isnull=True)))
        .order_by()
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def main(argv=None) -> dict:
    args = parse_args(argv)
    url = pg_create(args.database)
    django_setup(url)
    from bench import seed_scale

    seed_scale.DATABASE = args.database
    seeding = seed_scale.ensure(args.jobs)
    from django.utils import timezone

    from jobs import selectors
    from jobs.models import Endpoint

    endpoints = list(Endpoint.objects.order_by("id"))
    Endpoint.objects.filter(pk__in=[e.pk for e in endpoints[::2]]).update(price_per_second=PRICE)
    Endpoint.objects.filter(pk__in=[e.pk for e in endpoints[1::2]]).update(price_per_second=None)
    first = endpoints[0].pk
    now = timezone.now()
    result = new_result(NAME, argv)
    result.update(
        jobs=args.jobs, database=args.database, postgres=postgres_version(url), seeding=seeding, runs=args.runs
    )
    windows = {name: selectors.cost_window(name, now) for name in ("7d", "30d")}
    calls = {
        **{
            f"summary_{name}": (lambda s=since, u=until: selectors.cost_summary(since=s, until=u, now=now))
            for name, (since, until) in windows.items()
        },
        "filter_total_all": lambda: selectors.filter_cost_total(selectors.JobFilters(), now=now),
        "filter_total_endpoint": lambda: selectors.filter_cost_total(selectors.JobFilters(endpoint_id=first), now=now),
        "filter_total_endpoint_status": lambda: selectors.filter_cost_total(
            selectors.JobFilters(endpoint_id=first, status="COMPLETED"), now=now
        ),
    }
    result["timings"] = {}
    for name, call in calls.items():
        result["timings"][name] = timed(call, args.runs)
        log(f"{name}: {result['timings'][name]}")
    result["timings"]["summary_30d_cached"] = timed(calls["summary_30d"], args.runs, cold=False)
    log(f"summary_30d_cached: {result['timings']['summary_30d_cached']}")
    summary = selectors.cost_summary(since=windows["30d"][0], until=windows["30d"][1], now=now)
    finished = summary.total.amount - summary.total.so_far
    expected = plain_sql_total()
    result["check"] = {
        "summary_finished_usd": str(finished),
        "plain_sql_usd": str(expected),
        "equal": finished == expected,
        "groups_days": len(summary.days),
        "running_priced_so_far": summary.total.running,
    }
    log(f"check: {result['check']}")
    result["plan_30d"] = grouped_plan(*windows["30d"])
    return write_result(NAME, result, args.json)


if __name__ == "__main__":
    main()
