"""Is polling alive? Every finished poll tick stamps a marker; the web process compares it with the clock.

The alerting task cannot report its own death, so this is read by the page banner and /healthz in the web process,
from the database alone.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from jobs.services.heartbeat import heartbeat_at, heartbeat_record

POLL_MARKER = "poll_round"
POLL_TASK = "jobs.tasks.poll_tick"


def heartbeat_on_task_done(sender=None, task=None, state=None, **kwargs):
    """Celery's task_postrun: a poll tick that finished (even with nothing due) proves polling is alive."""
    if getattr(task, "name", None) == POLL_TASK and state == "SUCCESS":
        poll_heartbeat()


def poll_heartbeat(now=None) -> None:
    # Kept beside the workers' and beat's heartbeats (jobs.Heartbeat), one table for every "still alive" stamp.
    heartbeat_record(POLL_MARKER, now=now)


@dataclass(frozen=True)
class Stall:
    seconds: float | None  # since the last finished round; None when no round ever finished
    waiting: int  # active jobs overdue for a poll (capped)
    reason: str

    @property
    def public_reason(self) -> str:
        """For /healthz, which anyone can read: the stall without how many jobs this install has."""
        since = "yet" if self.seconds is None else f"for {self.seconds:.0f} s"
        return f"No poll round has finished {since} while jobs wait to be polled."


def polling_stall(now=None, *, threshold=None) -> Stall | None:
    """A Stall when no poll round finished for `threshold` seconds while jobs are overdue for a poll, else None.

    Two cheap reads: the marker row, and (only when it is old) a capped look at the partial index of due jobs.
    """
    now = now or timezone.now()
    threshold = threshold if threshold is not None else settings.ALERT_POLL_STALL_SECONDS
    last = heartbeat_at(POLL_MARKER)
    if last is not None and last >= now - timedelta(seconds=threshold):
        return None
    overdue = Job.objects.filter(next_poll_at__lt=now - timedelta(seconds=threshold), endpoint__enabled=True)
    waiting = len(overdue.values_list("pk", flat=True)[:1000])
    if not waiting:
        return None
    count = f"{waiting}{'+' if waiting == 1000 else ''} job{'s' if waiting != 1 else ''}"
    if last is None:
        reason = (
            f"No poll round has finished yet while {count} wait to be polled: are the Celery worker and beat running?"
        )
        return Stall(seconds=None, waiting=waiting, reason=reason)
    seconds = (now - last).total_seconds()
    reason = (
        f"No poll round has finished for {seconds:.0f} s while {count} wait to be polled: "
        "are the Celery worker and beat running?"
    )
    return Stall(seconds=seconds, waiting=waiting, reason=reason)
