"""Alert tasks: the evaluation tick (beat, see settings.CELERY_BEAT_SCHEDULE) and one delivery with retries."""

import logging

from celery import shared_task

from alerts import services

logger = logging.getLogger(__name__)

# Deliveries queue behind the poll ticks (priority 0): a dead channel must never delay polling.
DELIVER_PRIORITY = 8


@shared_task
def alerts_tick():
    result = services.alerts_evaluate()
    for delivery_id in result["deliveries"] + services.deliveries_overdue():
        deliver_alert.delay(delivery_id)
    if result["fired"] or result["resolved"]:
        logger.info("alerts: %s fired, %s resolved", result["fired"], result["resolved"])
    return {k: v for k, v in result.items() if k != "deliveries"}


@shared_task(bind=True, max_retries=None, acks_late=True, priority=DELIVER_PRIORITY)
def deliver_alert(self, delivery_id):
    """One attempt; a failure comes back after its backoff until the delivery is sent or given up."""
    result = services.delivery_send(delivery_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
