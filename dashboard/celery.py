import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


POLL_TICK = "jobs.tasks.poll_tick"


@beat_init.connect
def _beat_records_its_ticks(sender=None, **kwargs):
    """In beat's process only: each poll tick sent is recorded (`manage.py health` compares workers with it)."""
    before_task_publish.connect(_tick_sent, weak=False, dispatch_uid="dashboard-beat-heartbeat")


def _tick_sent(sender=None, **kwargs):
    if sender == POLL_TICK:
        from jobs.services.heartbeat import heartbeat_record

        heartbeat_record("beat")


@worker_ready.connect
def _worker_started(sender=None, **kwargs):
    """A new worker counts from its start: the health check gives it a whole stale period to take a tick."""
    from jobs.services.heartbeat import heartbeat_record, worker_heartbeat_name

    heartbeat_record(worker_heartbeat_name(sender.hostname))
