"""One alerts tick: read new failures and losses, evaluate every rule, fire and resolve alerts."""

import time

from django.utils import timezone

from alerts.models import Marker

from .feed import transitions_read
from .lifecycle import alerts_sync
from .rules import rules_evaluate

EVALUATED_MARKER = "alerts_evaluated"


def alerts_evaluate(now=None) -> dict:
    """1. Error groups and lost results from new transitions. 2. Every rule. 3. Fire and resolve alerts."""
    started = time.perf_counter()
    now = now or timezone.now()
    added = transitions_read()
    findings = rules_evaluate(now)
    result = alerts_sync(findings, now=now)
    # When rules were last evaluated: the alerts page shows it, and tests wait on it.
    if not Marker.objects.filter(name=EVALUATED_MARKER).update(at=timezone.now()):
        Marker.objects.get_or_create(name=EVALUATED_MARKER, defaults={"at": timezone.now()})
    result.update(added, findings=len(findings), ms=round((time.perf_counter() - started) * 1000, 1))
    return result
