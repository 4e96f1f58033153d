"""Is every worker still consuming? Each worker records when it takes a poll tick, beat when it sends one.

After a Redis restart a Celery worker can stay connected yet never consume again (celery/celery#10205, #10302):
nothing fails, nothing is polled. `manage.py health worker NAME` fails once beat has kept sending ticks for
HEARTBEAT_STALE_SECONDS past that worker's last one, so a supervisor (compose's healthcheck, systemd, `make run`)
restarts it; `manage.py health beat` fails once beat has sent nothing for that long.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from jobs.models import Heartbeat

logger = logging.getLogger(__name__)


def worker_heartbeat_name(hostname: str) -> str:
    return f"worker:{hostname}"


def heartbeat_record(name: str, *, now=None) -> None:
    """Record a beat; a database outage must not stop the worker or beat that records it."""
    try:
        Heartbeat.objects.update_or_create(name=name[:200], defaults={"at": now or timezone.now()})
    except DatabaseError:
        logger.warning("could not record the %s heartbeat", name, exc_info=True)


def heartbeat_at(name):
    """When the named beat was last recorded, or None."""
    return Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()


def worker_problem(hostname: str, *, stale_seconds=None, now=None) -> str | None:
    """A sentence saying why the worker looks stuck, or None while it consumes (or beat sends nothing)."""
    stale = timedelta(seconds=stale_seconds or settings.HEARTBEAT_STALE_SECONDS)
    now = now or timezone.now()
    sent = heartbeat_at(Heartbeat.BEAT)
    if sent is None or sent < now - stale:
        return None  # no ticks to consume: beat's own check reports that
    consumed = heartbeat_at(worker_heartbeat_name(hostname))
    if consumed is None:
        return f"{hostname} has never taken a poll tick while beat sends them"
    if sent - consumed > stale:
        return (
            f"{hostname} took its last poll tick at {consumed:%H:%M:%S}, but beat kept sending them until "
            f"{sent:%H:%M:%S}: it has stopped consuming"
        )
    return None


def beat_problem(*, stale_seconds=None, now=None) -> str | None:
    stale = timedelta(seconds=stale_seconds or settings.HEARTBEAT_STALE_SECONDS)
    sent = heartbeat_at(Heartbeat.BEAT)
    if sent is None:
        return "beat has never sent a poll tick"
    if sent < (now or timezone.now()) - stale:
        return f"beat sent its last poll tick at {sent:%H:%M:%S}"
    return None
