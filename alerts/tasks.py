"""Alert tasks: the evaluation tick (beat, see settings.CELERY_BEAT_SCHEDULE) and one delivery with retries."""

import logging

from celery import shared_task

from alerts import services

logger = logging.getLogger(__name__)

# On Redis a lower number goes first. The evaluation is a beat tick like the poll and health ticks (0), taking its
# turn with them: behind them it starved whenever ticks kept every pool process busy. Deliveries take their turn with
# the sends (jobs.tasks.SEND_PRIORITY), behind every tick, so a channel that answers slowly never delays polling.
EVALUATE_PRIORITY = 0
DELIVER_PRIORITY = 6


@shared_task(priority=EVALUATE_PRIORITY)
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
