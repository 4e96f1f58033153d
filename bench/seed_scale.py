"""A PostgreSQL database at production scale for the page benchmarks: --jobs jobs (default 1,000,000) over the
last week on 10 endpoints, with their transitions and some streams, and a week of 10-second health snapshots
per endpoint (60,480 each).

The rows are generated inside PostgreSQL (`INSERT ... SELECT ... FROM generate_series`, seeded with setseed, so
two runs make the same data), which loads a million jobs in a few minutes with every index in place. Inputs
are prompts of a few words from a small vocabulary, so a text search finds some; ids look like RunPod's.

    .venv/bin/python bench/seed_scale.py                   # into the `bench_pages` database, if not there yet
    .venv/bin/python bench/seed_scale.py --jobs 100000 --force
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, log, pg_create

DATABASE = "bench_pages"
ENDPOINTS = 10
DAYS = 7
SNAPSHOT_SECONDS = 10
# Prompts are three words of these; "lighthouse" is in about one input in 25, "zeppelin" in none.
VOCABULARY = (
    "a portrait of an astronaut riding a horse on mars lighthouse at dusk in the style of an oil painting "
    "watercolor sketch city skyline at night neon rain over tokyo forest cabin in winter snow mountain lake "
    "sunrise cat wearing a hat dog reading a newspaper robot playing chess"
)
MARKER = "bench.seed_scale"

JOBS_SQL = """
WITH g AS (
    SELECT n,
           now() - make_interval(secs => %(span)s * (1 - n::float8 / %(jobs)s)) AS created,
           random() AS r_status, random() AS r_mode, random() AS r_stream,
           (random() * 4000)::int AS delay, (500 + random() * 20000)::int AS execution
    FROM generate_series(1, %(jobs)s) AS n
), j AS (
    SELECT g.*,
           1 + (n %% %(endpoints)s) AS endpoint_index,
           CASE WHEN n > %(jobs)s - %(active)s THEN (CASE WHEN n %% 3 = 0 THEN 'IN_QUEUE' ELSE 'IN_PROGRESS' END)
                WHEN r_status < 0.90 THEN 'COMPLETED' WHEN r_status < 0.95 THEN 'FAILED'
                WHEN r_status < 0.98 THEN 'CANCELLED' ELSE 'TIMED_OUT' END AS status,
           md5(n::text || 'runpod') AS h,
           %(words)s::text[] AS words
    FROM g
)
INSERT INTO jobs_job (
    endpoint_id, runpod_id, mode, streaming, tracked, status, input, webhook, s3_config, output, has_output,
    progress, error_raw, error, submit_error, delay_ms, execution_ms, worker_id, retries, last_raw,
    created_at, submitted_at, seen_at, started_at, finished_at, archived_at, expires_at, next_poll_at,
    last_polled_at, poll_failures, lease_token, stream_seq, stream_served_seq, archived, expired, not_found,
    completed_without_output,
    submitted_by_id
)
SELECT
    e.id,
    CASE WHEN r_mode < 0.05 THEN 'sync-' ELSE '' END || substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4'
        || substr(h, 14, 3) || '-a' || substr(h, 18, 3) || '-' || substr(h, 21, 12),
    CASE WHEN r_mode < 0.05 THEN 'runsync' ELSE 'run' END,
    r_stream < 0.02,
    n %% 7 = 0,
    status,
    jsonb_build_object(
        'prompt', words[1 + (n * 7) %% array_length(words, 1)] || ' ' || words[1 + (n * 13) %% array_length(words, 1)]
            || ' ' || words[1 + (n * 31) %% array_length(words, 1)],
        'seed', n, 'steps', 20 + n %% 30, 'width', 1024, 'height', 1024),
    '', '',
    CASE WHEN status = 'COMPLETED' THEN jsonb_build_object(
        'image_url', 'https://example.com/outputs/' || h || '.png', 'seconds', execution / 1000.0) END,
    status = 'COMPLETED',
    NULL,
    CASE WHEN status = 'FAILED' THEN %(error)s ELSE '' END,
    CASE WHEN status = 'FAILED' THEN %(error)s::jsonb END,
    '',
    delay,
    CASE WHEN status IN ('IN_QUEUE') THEN NULL ELSE execution END,
    CASE WHEN status = 'IN_QUEUE' THEN '' ELSE 'w' || substr(h, 5, 13) END,
    0,
    jsonb_build_object('id', h, 'status', status, 'delayTime', delay, 'executionTime', execution),
    created,
    created + interval '50 milliseconds',
    created + interval '100 milliseconds',
    CASE WHEN status = 'IN_QUEUE' THEN NULL ELSE created + make_interval(secs => delay / 1000.0) END,
    CASE WHEN status IN ('IN_QUEUE', 'IN_PROGRESS') THEN NULL
         ELSE created + make_interval(secs => (delay + execution) / 1000.0) END,
    CASE WHEN status IN ('IN_QUEUE', 'IN_PROGRESS') THEN NULL
         ELSE created + make_interval(secs => (delay + execution) / 1000.0 + 1) END,
    created + interval '30 minutes',
    CASE WHEN status IN ('IN_QUEUE', 'IN_PROGRESS') THEN now() + interval '2 seconds' END,
    created + make_interval(secs => (delay + execution) / 1000.0 + 1),
    0, '', CASE WHEN r_stream < 0.02 THEN 10 ELSE 0 END, 0,
    status NOT IN ('IN_QUEUE', 'IN_PROGRESS'), false, false, false,
    NULL
FROM j JOIN jobs_endpoint e ON e.name = 'scale-' || (j.endpoint_index - 1)
"""

TRANSITIONS_SQL = """
INSERT INTO jobs_statustransition (job_id, from_status, to_status, at, source)
SELECT id, 'PENDING', 'IN_QUEUE', submitted_at, 'submit' FROM jobs_job
UNION ALL
SELECT id, 'IN_QUEUE', 'IN_PROGRESS', started_at, 'poll' FROM jobs_job WHERE started_at IS NOT NULL
UNION ALL
SELECT id, 'IN_PROGRESS', status, finished_at, 'poll' FROM jobs_job WHERE finished_at IS NOT NULL
"""

CHUNKS_SQL = """
INSERT INTO jobs_streamchunk (job_id, seq, output, received_at)
SELECT j.id, s, jsonb_build_object('index', s, 'text', 'token ' || s), j.started_at + make_interval(secs => s * 0.2)
FROM jobs_job j CROSS JOIN generate_series(0, 9) AS s
WHERE j.streaming AND j.started_at IS NOT NULL
"""

SNAPSHOTS_SQL = """
INSERT INTO jobs_healthsnapshot (
    endpoint_id, taken_at, jobs_completed, jobs_failed, jobs_in_progress, jobs_in_queue, jobs_retried,
    workers_idle, workers_initializing, workers_ready, workers_running, workers_throttled, workers_unhealthy, raw
)
SELECT e.id, now() - make_interval(secs => %(step)s * s), 100000 - s, 5000 - s / 20,
       (5 + 4 * sin(s / 360.0))::int, greatest(0, (20 * sin(s / 1000.0 + e.id))::int), 0,
       (2 + 2 * cos(s / 500.0))::int, s %% 2, (2 + 2 * cos(s / 500.0))::int, (5 + 4 * sin(s / 360.0))::int, 0, 0,
       NULL
FROM jobs_endpoint e CROSS JOIN generate_series(0, %(snapshots)s - 1) AS s
WHERE e.name LIKE 'scale-%%'
"""


DEFAULTS_BY_TYPE = {
    "boolean": "false",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "double precision": "0",
    "text": "''",
    "character varying": "''",
}


def default_new_columns(cursor, table: str) -> None:
    """Give NOT NULL columns without a database default (added by later migrations, which keep the default in
    Django) one, so the generated INSERTs above keep working as the models grow. Only this scratch database."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        [table],
    )
    for column, kind in cursor.fetchall():
        value = DEFAULTS_BY_TYPE.get(kind)
        if value is not None:
            cursor.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET DEFAULT {value}')


def seeded_size() -> int | None:
    """The job count of a finished earlier seeding, or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('jobs_job'::regclass, 'pg_class')")
        comment = cursor.fetchone()[0] or ""
    if comment.startswith(MARKER + " jobs="):
        return int(comment.split("=", 1)[1])
    return None


def clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE jobs_streamchunk, jobs_statustransition, jobs_auditentry, jobs_job, jobs_healthsnapshot, "
            "jobs_endpoint RESTART IDENTITY CASCADE"
        )


def seed(jobs: int) -> dict:
    """Generate everything; returns seconds per step."""
    from django.db import connection

    from jobs.models import Endpoint

    timings = {}
    clear()
    Endpoint.objects.bulk_create(
        Endpoint(name=f"scale-{i}", runpod_id=f"scale{i:02d}endpoint", base_url="http://127.0.0.1:9/v2", api_key="k")
        for i in range(ENDPOINTS)
    )
    params = {
        "jobs": jobs,
        "endpoints": ENDPOINTS,
        "span": DAYS * 86400,
        "active": min(1000, jobs // 100),
        "words": VOCABULARY.split(),
        "step": SNAPSHOT_SECONDS,
        "error": '{"error_type": "RuntimeError", "error_message": "CUDA out of memory"}',
        "snapshots": DAYS * 86400 // SNAPSHOT_SECONDS,
    }
    with connection.cursor() as cursor:
        default_new_columns(cursor, "jobs_job")
        cursor.execute("SELECT setseed(0.42)")
        for name, sql in (("jobs", JOBS_SQL), ("transitions", TRANSITIONS_SQL), ("chunks", CHUNKS_SQL)):
            started = time.monotonic()
            cursor.execute(sql, params if "%(" in sql else None)
            timings[name] = round(time.monotonic() - started, 1)
            log(f"{name}: {cursor.rowcount} rows in {timings[name]} s")
        started = time.monotonic()
        cursor.execute(SNAPSHOTS_SQL, params)
        timings["snapshots"] = round(time.monotonic() - started, 1)
        log(f"snapshots: {cursor.rowcount} rows in {timings['snapshots']} s")
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = round(time.monotonic() - started, 1)
        cursor.execute(f"COMMENT ON TABLE jobs_job IS '{MARKER} jobs={int(jobs)}'")
    return timings


def ensure(jobs: int, *, force: bool = False) -> dict:
    """Seed the database unless it already holds this many jobs; returns what was done."""
    if not force and seeded_size() == jobs:
        log(f"{DATABASE} already holds {jobs} generated jobs")
        return {"reused": True}
    started = time.monotonic()
    timings = seed(jobs)
    return {"reused": False, "seconds": round(time.monotonic() - started, 1), "steps": timings}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--force", action="store_true", help="seed again even if the data is there")
    args = parser.parse_args(argv)
    url = pg_create(args.database)
    django_setup(url)
    done = ensure(args.jobs, force=args.force)
    print(done)
    return done


if __name__ == "__main__":
    main()
