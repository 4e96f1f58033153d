"""Handing work to a Celery worker once the transaction that recorded it has committed."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, pk: int, *, what: str) -> None:
    """After commit, call jobs.tasks.<task_name>.delay(pk). With the broker down the work stays recorded and the
    poll tick hands it out once the broker is back (it re-sends PENDING jobs and bulk batches nobody works on)."""
    transaction.on_commit(lambda: _enqueue(task_name, pk, what))


def _enqueue(task_name, pk, what):
    # Tasks import services: a lazy import keeps that one-way (HackSoft's pattern for a service enqueuing a task).
    from jobs import tasks

    try:
        getattr(tasks, task_name).delay(pk)
    except Exception:
        logger.warning("could not enqueue %s %s; the poll tick will pick it up", what, pk, exc_info=True)
