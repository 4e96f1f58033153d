"""Celery tasks: ids in, a service call, a retry policy. The beat schedule is in settings.CELERY_BEAT_SCHEDULE."""

import logging

from celery import shared_task
from django.conf import settings

from jobs import services
from jobs.services.heartbeat import heartbeat_record, worker_heartbeat_name

logger = logging.getLogger(__name__)


# Beat's ticks go out at priority 0, the highest on Redis; sends at a lower one. A backlog of thousands of sends
# must not keep the poll ticks waiting in the queue: runsync results live only 60 s at RunPod.
SEND_PRIORITY = 6


@shared_task(bind=True, max_retries=30, acks_late=True, priority=SEND_PRIORITY)
def send_job(self, job_id):
    """Send a PENDING job to RunPod; a request RunPod never got is tried again, never a maybe-accepted one."""
    try:
        services.job_send(job_id)
    except services.SendLater as later:
        raise self.retry(countdown=later.countdown) from later


@shared_task(bind=True)
def poll_tick(self, endpoint_ids=None):
    """Every few seconds: resend lost submissions, then poll the due jobs of every endpoint no one else holds."""
    if self.request.hostname:  # taken off the queue by a worker (not called in-process)
        heartbeat_record(worker_heartbeat_name(self.request.hostname))
    for job_id in services.jobs_send_lost():
        send_job.delay(job_id)
    for bulk_id in services.bulk_actions_orphaned():
        run_bulk_action.delay(bulk_id)
    runs = services.poll_round(endpoint_ids, limit_endpoints=settings.POLL_ENDPOINTS_PER_ROUND)
    polled = sum(run.polled for run in runs)
    if polled:
        logger.info("polled %s job(s) on %s endpoint(s)", polled, len(runs))
    return polled


@shared_task
def health_tick():
    return services.endpoints_snapshot_health()


@shared_task
def prune_tick():
    return services.history_prune()


@shared_task(priority=SEND_PRIORITY)
def run_bulk_action(bulk_id):
    """Work through a bulk action for a while, then hand the rest to a fresh task (time limits, fairness)."""
    if services.bulk_run(bulk_id):
        run_bulk_action.delay(bulk_id)
