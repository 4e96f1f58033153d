"""PostgreSQL's own time for the jobs list's text search: inputs only (as before issue 12) against inputs, outputs and
errors (now), over a window of the newest jobs, on bench/seed_scale.py's data.

The list's search query is built as the page builds it (the list's columns, the keyset window, ORDER BY and LIMIT)
and timed with EXPLAIN ANALYZE, the two forms interleaved so the machine's load falls on both alike.

    .venv/bin/python bench/text_search.py --database bench_pages --window 10000 --window 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, log, pg_create

WORDS = ("zeppelin", "out of memory")  # in no job at all; only in the errors of failed jobs


def execution_ms(qs) -> float:
    from django.db import connection

    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
        last = cursor.fetchall()[-1][0]  # "Execution Time: 12.345 ms"
    return float(last.split()[2])


def forms(window: int):
    from django.db.models import Q, TextField
    from django.db.models.functions import Cast

    from jobs import selectors
    from jobs.models import Job

    at, pk = Job.objects.order_by("-created_at", "-id").values_list("created_at", "id")[window - 1]
    base = selectors.jobs.job_list_rows().filter(Q(created_at__gte=at) & (Q(created_at__gt=at) | Q(id__gte=pk)))
    return {
        "input only": lambda q: base.annotate(input_text=Cast("input", TextField())).filter(input_text__icontains=q),
        "input, output, error": lambda q: selectors.job_text_filter(base, q),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="bench_pages")
    parser.add_argument("--window", type=int, action="append", help="jobs read per page (repeatable)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    django_setup(pg_create(args.database))
    results = {}
    for window in args.window or [10_000]:
        queries = forms(window)
        times: dict[tuple, list] = {}
        for _ in range(args.rounds + 1):  # the first round warms the cache and is dropped
            for word in WORDS:
                for name, build in queries.items():
                    qs = build(word).order_by("-created_at", "-id")[:51]
                    times.setdefault((name, word), []).append(execution_ms(qs))
        for (name, word), samples in times.items():
            results[f"{window} jobs, {name}, {word!r}"] = round(statistics.median(samples[1:]), 1)
    for key, value in results.items():
        log(f"{key}: median execution {value} ms")
    return results


if __name__ == "__main__":
    main()
