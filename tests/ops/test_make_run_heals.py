"""`make run` heals itself: a Celery worker that dies or stops consuming is replaced, and polling goes on."""

import os
import signal
import time

import psutil
import pytest
from django.conf import settings

from tests.ops.test_make_run import (
    STARTUP_LIMIT,
    MakeRun,
    check_ctrl_c_stops_everything,
    clone,
    newcomer_env,
    private_queue,
)

__all__ = ["clone", "private_queue"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.slow

STALE_SECONDS = 10


def worker_main(run: MakeRun) -> psutil.Process | None:
    """The Celery worker's main process (its pool processes are its children and run the same command)."""
    tree = psutil.Process(run.proc.pid).children(recursive=True)
    for process in tree:
        try:
            command = " ".join(process.cmdline())
            parent = " ".join(process.parent().cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        # "-A dashboard worker": not `manage.py health worker celery@...`, which run.py starts too.
        if "-A dashboard worker" in command and "-A dashboard worker" not in parent:
            return process
    return None


def within(run: MakeRun, seconds: float, predicate, message: str):
    """run.wait, with a deadline of its own rather than what is left of the startup limit."""
    run.started = time.monotonic() - STARTUP_LIMIT + seconds
    return run.wait(predicate, message)


def last_job_id(run: MakeRun) -> int:
    return run.db("SELECT coalesce(max(id), 0) FROM jobs_job")[0][0]


def archived_after(run: MakeRun, job_id: int) -> int:
    return run.db(f"SELECT count(*) FROM jobs_job WHERE archived AND id > {job_id}")[0][0]  # noqa: S608 - an int


def stop_the_current_worker(run: MakeRun):
    """SIGSTOP the worker running now: on a loaded machine the one found after the kill may already have been
    replaced (a new worker slow to take its first tick looks stuck to the short test stale period)."""
    for _ in range(20):
        worker = run.wait(lambda: worker_main(run), "the worker's main process")
        try:
            os.kill(worker.pid, signal.SIGSTOP)
            return worker
        except ProcessLookupError:
            time.sleep(0.5)  # between its death and the next start; the loop bounds the wait
    raise AssertionError("no worker stayed up long enough to be stopped")


def test_make_run_restarts_a_dead_worker_and_a_stuck_one(clone, private_queue):
    """A SIGKILLed worker comes back, a SIGSTOPped one is replaced within the stale period; jobs keep archiving."""
    env = newcomer_env(
        REDIS_URL=settings.REDIS_URL, CELERY_QUEUE=private_queue, HEARTBEAT_STALE_SECONDS=str(STALE_SECONDS)
    )
    run = MakeRun(clone, env)
    gone = []
    try:
        within(
            run,
            STARTUP_LIMIT + 60,
            lambda: archived_after(run, 0),
            "a first archived demo job (loaded machine: more time)",
        )
        first = run.wait(lambda: worker_main(run), "the worker's main process")

        mark = last_job_id(run)
        first.send_signal(signal.SIGKILL)
        gone.append(first)
        second = within(run, 30, lambda: (w := worker_main(run)) and w.pid != first.pid and w, "a new worker")
        within(run, 60, lambda: archived_after(run, mark), "a job submitted after the kill archived")
        assert "worker   | " in run.output()
        assert "worker died (exit code -9): restarting it in 1 s" in run.output()

        second = stop_the_current_worker(run)
        gone.append(second)
        mark = last_job_id(run)
        # The check waits out one stale period from the worker's start, then runs every third of one (plus
        # Django's start-up in the check's own process): a margin of 20 s on a loaded machine.
        third = within(
            run, STALE_SECONDS + 20, lambda: (w := worker_main(run)) and w.pid != second.pid and w, "a new worker"
        )
        assert "worker was stuck (" in run.output()
        within(run, 60, lambda: archived_after(run, mark), "a job submitted after the worker got stuck archived")
        assert third.is_running()

        check_ctrl_c_stops_everything(run)
        assert not [p for p in gone if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        run.stop()
