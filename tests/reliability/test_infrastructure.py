"""Our own parts misbehaving mid-run: a worker SIGKILLed in the middle of a poll batch, beat killed and restarted,
Redis killed (losing every queued task) and restarted, the database unreachable for a while. Jobs in flight are
not lost, nothing is stored twice, and the tasks resume on their own."""

import time
import uuid
from dataclasses import replace

import pytest
from django.db import connection
from django.utils import timezone

from jobs import services
from jobs.models import Endpoint, Job
from tests.celery_worker import CeleryWorker
from tests.factories import make_endpoint
from tests.utils import wait_for

from .figures import figures_dir, record
from .runs import books, bulk_submit, job_mix, progress_report, wait_progressing, wait_settled
from .servers import BeatProcess, PrivateRedis, RecordingSimulator, broker_env, celery_broker

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TIME_SCALE = 2
KEY = "rpa_INFRA_KEY_5a1e"


@pytest.fixture
def run_sim():
    with RecordingSimulator(seed=21, time_scale=TIME_SCALE, endpoints=[]) as sim:
        name = f"infra-{uuid.uuid4().hex[:6]}"
        sim.add_endpoint(name, min_workers=8, max_workers=16, cold_start=0, job_seconds=[0.1, 0.6])
        sim.endpoint = make_endpoint(name=name, runpod_id=name, base_url=sim.base_url, api_key=KEY)
        yield sim


def archived(endpoint) -> int:
    return Job.objects.filter(endpoint=endpoint, archived=True).count()


def wait_archived(endpoint, count, sim):
    try:
        wait_progressing(lambda: archived(endpoint), count, message=f"{count} jobs archived")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{progress_report(endpoint, sim)}") from exc


def leased_batch(endpoint, *, at_least) -> list[int]:
    """Ids of the jobs a poller holds right now, if there are enough of them to call it a batch in flight."""
    ids = list(Job.objects.filter(endpoint=endpoint, lease_until__gt=timezone.now()).values_list("pk", flat=True))
    return ids if len(ids) >= at_least else []


def settle_and_check(name, endpoint, kinds, sim, processes, **figures):
    try:
        wait_settled(endpoint)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{progress_report(endpoint, sim)}") from exc
    result = books(endpoint, kinds, sim.stats())
    record(name, time_scale=TIME_SCALE, **figures, **result)
    assert result["problems"] == []
    assert result["refused_at_submission"] == 0, "no RunPod fault was injected: every job must have been sent"
    for process in processes:
        assert KEY not in process.output(), "the API key is in a worker or beat log"
    return result


def test_a_worker_killed_mid_batch_and_a_killed_beat_lose_nothing(run_sim):
    """SIGKILL the worker while a poll batch is leased and in flight, then beat; both come back, nothing is lost."""
    endpoint = run_sim.endpoint
    worker = CeleryWorker(beat=False, concurrency=2).start()
    beat = BeatProcess(queue=worker.queue).start()
    processes = [worker, beat]
    try:
        # No streams: a /stream call in flight when its worker dies has drained chunks RunPod never sends again
        # (docs/reliability.md, known limits). Streams under faults: test_fault_run.py, test_two_workers.py.
        kinds = job_mix(300, runsync=15, streams=0)
        bulk_submit(endpoint, kinds)
        # Killed mid-poll, not mid-send: a /run cut off with its worker may have reached RunPod, so that job ends
        # SUBMIT_FAILED by design (test_kill_mid_send.py), which this test would count as lost.
        wait_progressing(
            lambda: Job.objects.filter(endpoint=endpoint, runpod_id__isnull=False).count(),
            len(kinds),
            message="every job sent",
        )
        run_sim.configure(latency_ms=300)  # batches stay in flight long enough to be caught
        in_flight = wait_for(
            lambda: leased_batch(endpoint, at_least=10),
            timeout=60,
            interval=0.01,
            message="a poll batch of 10 jobs or more in flight",
        )
        worker.kill()
        leased_at_kill = in_flight
        worker = CeleryWorker(beat=False, concurrency=2, queue=worker.queue).start()
        processes.append(worker)

        wait_archived(endpoint, 150, run_sim)
        beat.kill()
        polled_before = Endpoint.objects.get(pk=endpoint.pk).last_poll_at
        beat = BeatProcess(queue=worker.queue).start()
        processes.append(beat)
        wait_for(
            lambda: Endpoint.objects.get(pk=endpoint.pk).last_poll_at > polled_before,
            timeout=30,
            message="polling resumed with the new beat",
        )
        settle_and_check(
            "worker_and_beat_killed",
            endpoint,
            kinds,
            run_sim,
            processes,
            jobs_leased_when_the_worker_died=len(leased_at_kill),
        )
        assert Job.objects.filter(pk__in=leased_at_kill, archived=True).count() == len(leased_at_kill)
    finally:
        for process in processes:
            process.stop()


def test_a_redis_restart_loses_no_job_in_flight(run_sim):
    """Redis dies with sends still queued and comes back empty: every job is still sent once and archived."""
    endpoint = run_sim.endpoint
    redis = PrivateRedis().start()
    env = broker_env(redis.url)
    worker = CeleryWorker(beat=False, concurrency=2, env=env).start()
    beat = BeatProcess(queue=worker.queue, env=env).start()
    processes = [worker, beat]
    try:
        with celery_broker(redis.url):
            kinds = job_mix(200, runsync=10, streams=10)
            bulk_submit(endpoint, kinds)
            wait_for(
                lambda: Job.objects.filter(endpoint=endpoint, runpod_id__isnull=False).count() >= 60,
                timeout=60,
                message="sending under way",
            )
            redis.kill()
            queued_when_killed = Job.objects.filter(endpoint=endpoint, runpod_id__isnull=True).count()
            during = job_mix(20, runsync=0, streams=0, seed=2)
            for kind in during:
                started = time.monotonic()
                services.job_submit(endpoint=endpoint, input={**kind.input, "during_outage": True})
                assert time.monotonic() - started < 5, "submitting with the broker down must not hang"
            kinds += [replace(kind, input={**kind.input, "during_outage": True}) for kind in during]
            polled_before = Endpoint.objects.get(pk=endpoint.pk).last_poll_at
            redis.start()

            def resumed():
                return Endpoint.objects.get(pk=endpoint.pk).last_poll_at > polled_before

            replaced = False
            try:
                wait_for(resumed, timeout=45, message="polling resumed after the restart")
            except AssertionError:
                # Celery/Kombu workers sometimes never consume again after their Redis restarts (celery/celery
                # #10205, #10302, still open upstream): what an operator's supervisor does then is restart them.
                # Whatever was queued or in flight must still be there for the new ones, which this then checks.
                stuck = "\n".join(f"--- {p.log_path}\n{p.output()[-6000:]}" for p in processes)
                (figures_dir() / "redis_restart-stuck.log").write_text(stuck)
                for process in processes:
                    process.kill()
                worker = CeleryWorker(beat=False, concurrency=2, env=env, queue=worker.queue).start()
                beat = BeatProcess(queue=worker.queue, env=env).start()
                processes += [worker, beat]
                replaced = True
                try:
                    wait_for(resumed, timeout=60, message="polling resumed with restarted worker and beat")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{progress_report(endpoint, run_sim)}\n{stuck}") from exc
            settle_and_check(
                "redis_restart",
                endpoint,
                kinds,
                run_sim,
                processes,
                sends_queued_when_redis_died=queued_when_killed,
                submitted_while_redis_was_down=len(during),
                worker_and_beat_restarted_after_redis=replaced,
            )
    finally:
        for process in processes:
            process.stop()
        redis.stop()


def test_a_database_outage_is_ridden_out(run_sim):
    """Every worker connection cut and new ones refused for a while: tasks fail, retry, and lose nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("a local SQLite file cannot be briefly unreachable; pages in an outage: test_database_down")
    endpoint = run_sim.endpoint
    worker = CeleryWorker(concurrency=2).start()
    try:
        kinds = job_mix(200, runsync=10, streams=10)
        bulk_submit(endpoint, kinds)
        wait_archived(endpoint, 80, run_sim)
        outage = database_outage(seconds=6, worker=worker)
        polled_before = Endpoint.objects.get(pk=endpoint.pk).last_poll_at
        wait_for(
            lambda: Endpoint.objects.get(pk=endpoint.pk).last_poll_at > polled_before,
            timeout=60,
            message="polling resumed after the outage",
        )
        assert worker.proc.poll() is None, "the worker survived the outage"
        settle_and_check("database_outage", endpoint, kinds, run_sim, [worker], outage_seconds=outage)
    finally:
        worker.stop()


def database_outage(*, seconds, worker) -> float:
    """Refuse new connections to the test database and cut every existing one but ours, for `seconds`.

    Run from a second connection to the server's `postgres` database: a database cannot lock itself out.
    """
    import psycopg

    params = connection.get_connection_params()
    name = params.pop("dbname")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        ours = cursor.fetchone()[0]
    quoted = connection.ops.quote_name(name)
    started = time.monotonic()
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false")
        try:
            while time.monotonic() < started + seconds:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                    [name, ours],
                )
                time.sleep(0.2)  # the outage's own length, not a wait for work
        finally:
            admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true")
    assert "OperationalError" in worker.output(), "no task saw the outage"
    return round(time.monotonic() - started, 1)
