"""Stop tracking a job: it is no longer polled, and everything stored about it stays."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job

from .audit import audit_record
from .errors import InputError

# The lease token a stopped job is held with for a moment (see job_stop_tracking).
STOP_TRACKING_LEASE = "stop-tracking"


def job_stop_tracking(*, job, user=None, remote_addr=None) -> Job:
    """Stop polling a job; what is stored stays. Conditional on no poller holding it, so one that already
    claimed it cannot schedule another poll after us."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    stopped = Job.objects.filter(free, pk=job.pk, tracking_stopped_at__isnull=True).update(
        next_poll_at=None,
        tracking_stopped_at=now,
        # Held for a poll lease's length, so a poller that read the job as due a moment ago cannot claim it.
        lease_until=now + timedelta(seconds=settings.POLL_LEASE_SECONDS),
        lease_token=STOP_TRACKING_LEASE,
    )
    if not stopped:
        raise InputError("It is being polled this moment or was already stopped; try again.")
    job.next_poll_at, job.tracking_stopped_at = None, now
    audit_record(
        action="stop_tracking",
        user=user,
        job=job,
        message=f"No longer polled; last seen {job.status}",
        remote_addr=remote_addr,
    )
    return job
