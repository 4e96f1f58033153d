"""Cost of one alerts tick (error-group feed, every rule, lifecycle) at 100 endpoints and 1,000,000 jobs on PostgreSQL.

Jobs are generated like bench/seed_scale.py (its SQL, a week of history, the last 1,000 still active) over 100
endpoints, with an hour of 10-second health snapshots each. Before measuring, `prepare` sets up the worst case for
the rules (see PREPARE_SQL): every endpoint's queue has waited ten minutes, ninety of them busy draining and ten
stuck behind unhealthy workers with runaways, a failure burst and jobs completed without output, so every rule
finds real work and the stuck-queue rule judges all 100 endpoints.

    .venv/bin/python bench/alerts_eval.py                 # seeds `bench_alerts` once, then measures
    .venv/bin/python bench/alerts_eval.py --jobs 100000 --ticks 10 --force
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, log, new_result, own_db, pg_create, write_result

NAME = "alerts_eval"
ENDPOINTS = 100
TROUBLED = 10
MARKER = "bench.alerts_eval"

SNAPSHOTS_SQL = """
INSERT INTO jobs_healthsnapshot (
    endpoint_id, taken_at, jobs_completed, jobs_failed, jobs_in_progress, jobs_in_queue, jobs_retried,
    workers_idle, workers_initializing, workers_ready, workers_running, workers_throttled, workers_unhealthy, raw
)
SELECT e.id, now() - make_interval(secs => 10 * s), 1000, 50, 3, 4, 0, 2, 0, 2, 3, 0, 0, NULL
FROM jobs_endpoint e CROSS JOIN generate_series(0, 359) AS s
"""

# The troubled endpoints: their queued jobs waited ten minutes, their workers are all unhealthy, and a tenth of
# their recent jobs failed with one of a few errors that differ only in numbers.
TROUBLE_SQL = """
UPDATE jobs_job SET submitted_at = now() - interval '10 minutes', created_at = now() - interval '10 minutes'
WHERE status = 'IN_QUEUE' AND endpoint_id IN (SELECT id FROM jobs_endpoint WHERE name = ANY(%(troubled)s));
UPDATE jobs_healthsnapshot SET workers_idle = 0, workers_ready = 0, workers_running = 0, workers_unhealthy = 3
WHERE endpoint_id IN (SELECT id FROM jobs_endpoint WHERE name = ANY(%(troubled)s))
  AND taken_at > now() - interval '2 minutes';
"""


def seeded_size() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('jobs_job'::regclass, 'pg_class')")
        comment = cursor.fetchone()[0] or ""
    return int(comment.split("=", 1)[1]) if comment.startswith(MARKER + " jobs=") else None


def seed(jobs: int) -> dict:
    from django.db import connection

    from bench import seed_scale
    from jobs.models import Endpoint

    timings = {}
    seed_scale.clear()
    Endpoint.objects.bulk_create(
        Endpoint(name=f"scale-{i}", runpod_id=f"scale{i:03d}endpoint", base_url="http://127.0.0.1:9/v2", api_key="k")
        for i in range(ENDPOINTS)
    )
    params = {
        "jobs": jobs,
        "endpoints": ENDPOINTS,
        "span": seed_scale.DAYS * 86400,
        "active": min(1000, jobs // 100),
        "words": seed_scale.VOCABULARY.split(),
        "error": '{"error_type": "RuntimeError", "error_message": "CUDA out of memory"}',
        "troubled": [f"scale-{i}" for i in range(TROUBLED)],
    }
    with connection.cursor() as cursor:
        _defaults_for_new_columns(cursor)
        cursor.execute("SELECT setseed(0.42)")
        for name, sql in (
            ("jobs", seed_scale.JOBS_SQL),
            ("transitions", seed_scale.TRANSITIONS_SQL),
            ("snapshots", SNAPSHOTS_SQL),
            ("trouble", TROUBLE_SQL),
        ):
            started = time.monotonic()
            cursor.execute(sql, params if "%(" in sql else None)
            timings[name] = round(time.monotonic() - started, 1)
            log(f"{name}: {cursor.rowcount} rows in {timings[name]} s")
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = round(time.monotonic() - started, 1)
        cursor.execute(f"COMMENT ON TABLE jobs_job IS '{MARKER} jobs={int(jobs)}'")
    return timings


def _defaults_for_new_columns(cursor) -> None:
    """Columns added to Job after seed_scale's INSERT was written get their model default in this scratch database."""
    from bench import seed_scale
    from jobs.models import Job

    for field in Job._meta.concrete_fields:
        missing = field.column not in seed_scale.JOBS_SQL and not field.null and not field.primary_key
        if missing and field.has_default() and isinstance(field.get_default(), bool | int | str):
            cursor.execute(f'ALTER TABLE jobs_job ALTER COLUMN "{field.column}" SET DEFAULT %s', [field.get_default()])


# Steady state at measuring time, the worst case for the rules: every endpoint's oldest queued job has waited ten
# minutes, so all 100 are stuck-queue candidates. The 90 healthy ones are busy draining (jobs finished in the last
# minutes, /health's finished counter rising); the ten troubled ones are stuck (nothing finished for three minutes,
# counters flat, workers unhealthy), their running jobs are past the default executionTimeout (runaways), a third of
# their recent jobs failed with errors that differ only in numbers (failure rate, error groups), and a few
# completed without output. Rerunning it leaves the same state.
PREPARE_SQL = """
UPDATE jobs_job SET next_poll_at = now() + interval '2 seconds' WHERE next_poll_at IS NOT NULL;
UPDATE jobs_job SET submitted_at = now() - interval '10 minutes', created_at = now() - interval '10 minutes'
WHERE status = 'IN_QUEUE';
UPDATE jobs_job SET started_at = now() - CASE WHEN endpoint_id = ANY(%(troubled_ids)s) THEN interval '12 minutes'
                                              ELSE interval '20 seconds' END
WHERE status = 'IN_PROGRESS';
WITH recent AS (
    SELECT id, endpoint_id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS k
    FROM (SELECT id, endpoint_id, created_at FROM jobs_job WHERE finished_at IS NOT NULL
          ORDER BY created_at DESC, id DESC LIMIT %(recent)s) newest
)
UPDATE jobs_job j
SET finished_at = now() - make_interval(secs => CASE WHEN recent.endpoint_id = ANY(%(troubled_ids)s)
                                                     THEN 180 + recent.k %% 360 ELSE recent.k %% 540 END),
    completed_without_output = (recent.endpoint_id = ANY(%(troubled_ids)s) AND j.status = 'COMPLETED'
                                AND recent.k / 100 %% 20 = 0)
FROM recent WHERE j.id = recent.id;
WITH failed AS (
    UPDATE jobs_job SET status = 'FAILED', has_output = false, output = NULL,
        error_raw = '{"error_type": "RuntimeError", "error_message": "CUDA out of memory at ' || (id %% 97) || '"}'
    WHERE endpoint_id = ANY(%(troubled_ids)s) AND finished_at > now() - interval '9 minutes' AND id %% 3 = 0
      AND status <> 'FAILED' AND NOT completed_without_output
    RETURNING id, finished_at
)
INSERT INTO jobs_statustransition (job_id, from_status, to_status, at, source)
SELECT id, 'IN_PROGRESS', 'FAILED', finished_at, 'poll' FROM failed;
UPDATE jobs_healthsnapshot
SET jobs_completed = CASE WHEN endpoint_id = ANY(%(troubled_ids)s) THEN 1000
                          ELSE 1000 + (extract(epoch FROM taken_at)::bigint / 10 %% 100000000)::int END;
UPDATE jobs_healthsnapshot SET taken_at = now() - interval '5 seconds', jobs_completed = jobs_completed + 100
WHERE id IN (SELECT DISTINCT ON (endpoint_id) id FROM jobs_healthsnapshot ORDER BY endpoint_id, taken_at DESC)
  AND endpoint_id <> ALL(%(troubled_ids)s);
UPDATE jobs_healthsnapshot SET taken_at = now() - interval '5 seconds'
WHERE id IN (SELECT DISTINCT ON (endpoint_id) id FROM jobs_healthsnapshot ORDER BY endpoint_id, taken_at DESC)
  AND endpoint_id = ANY(%(troubled_ids)s);
"""
RECENT_FINISHED = 10_000


def prepare() -> None:
    from django.db import connection

    from jobs.models import Endpoint

    troubled = list(
        Endpoint.objects.filter(name__in=[f"scale-{i}" for i in range(TROUBLED)]).values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(PREPARE_SQL, {"troubled_ids": troubled, "recent": RECENT_FINISHED})
        # What autovacuum would have done meanwhile: the updates above leave dead rows an index scan would walk.
        cursor.execute("VACUUM (ANALYZE) jobs_job, jobs_healthsnapshot, jobs_statustransition")


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU seconds the PostgreSQL backend serving us has used (user + system), from /proc when the server runs on
    this machine; None otherwise."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(ticks: int) -> dict:
    """Two warm-up ticks (the first fires the alerts and reads the recent failures), one whose statements are
    counted, then `ticks` timed ones: wall time, this process's CPU, and the database backend's CPU."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.models import Alert
    from alerts.services import alerts_evaluate, poll_heartbeat

    Alert.objects.all().delete()
    prepare()
    poll_heartbeat()
    warm = [alerts_evaluate() for _ in range(2)]
    with CaptureQueriesContext(connection) as queries:
        alerts_evaluate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    wall, cpu = [], []
    backend_started = backend_cpu_seconds(backend)
    for _ in range(ticks):
        poll_heartbeat()  # the poller's stamp, outside the timing
        started, started_cpu = time.perf_counter(), time.process_time()
        result = alerts_evaluate()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    backend_ended = backend_cpu_seconds(backend)
    firing = list(Alert.objects.filter(state="firing").values_list("kind", flat=True))
    return {
        "ticks": ticks,
        "median_ms": round(statistics.median(wall), 1),
        "p90_ms": round(sorted(wall)[int(0.9 * (len(wall) - 1))], 1),
        "min_ms": round(min(wall), 1),
        "median_cpu_ms": round(statistics.median(cpu), 1),
        # /proc counts in clock ticks (10 ms), too coarse for one tick: the mean over all of them.
        "database_cpu_ms_per_tick": (
            round((backend_ended - backend_started) * 1000 / ticks, 1) if backend_started is not None else None
        ),
        "queries_per_tick": len(queries),
        "findings": result["findings"],
        "first_tick": {k: v for k, v in warm[0].items() if k != "deliveries"},
        "firing_by_rule": {kind: firing.count(kind) for kind in sorted(set(firing))},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--database", default=own_db("bench_alerts"))
    parser.add_argument("--force", action="store_true", help="seed again even if the data is there")
    parser.add_argument("--output", help="write the JSON here instead of var/bench/alerts_eval.json")
    args = parser.parse_args(argv)
    result = new_result(NAME, argv)
    django_setup(pg_create(args.database))
    if args.force or seeded_size() != args.jobs:
        result["seed_seconds"] = seed(args.jobs)
    result.update(jobs=args.jobs, endpoints=ENDPOINTS, troubled_endpoints=TROUBLED)
    result["tick"] = measure(args.ticks)
    write_result(NAME, result, args.output)
    return result


if __name__ == "__main__":
    main()
