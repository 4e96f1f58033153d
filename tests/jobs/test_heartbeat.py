"""`manage.py health`: a worker that took no poll tick while beat kept sending them is reported stuck."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.services.heartbeat import beat_problem, heartbeat_record, worker_problem

pytestmark = pytest.mark.django_db

WORKER = "celery@box"


def beats(*, worker_ago, beat_ago):
    now = timezone.now()
    if worker_ago is not None:
        heartbeat_record(f"worker:{WORKER}", now=now - timedelta(seconds=worker_ago))
    if beat_ago is not None:
        heartbeat_record("beat", now=now - timedelta(seconds=beat_ago))


def test_a_worker_taking_ticks_is_healthy():
    """Its last tick is within the stale period of beat's last send."""
    beats(worker_ago=3, beat_ago=1)
    assert worker_problem(WORKER, stale_seconds=60) is None
    call_command("health", "worker", WORKER, "--stale-seconds", "60")


def test_a_worker_that_stopped_consuming_while_beat_kept_sending_fails_the_check():
    """Beat sent ticks for longer than the stale period after the worker's last one: the command exits 1."""
    beats(worker_ago=200, beat_ago=1)
    assert "stopped consuming" in worker_problem(WORKER, stale_seconds=60)
    with pytest.raises(CommandError, match="stopped consuming"):
        call_command("health", "worker", WORKER, "--stale-seconds", "60")


def test_a_quiet_worker_is_not_blamed_when_beat_sends_nothing():
    """With beat down there are no ticks to take: the worker passes and beat's own check fails."""
    beats(worker_ago=500, beat_ago=400)
    assert worker_problem(WORKER, stale_seconds=60) is None
    assert "last poll tick" in beat_problem(stale_seconds=60)
    with pytest.raises(CommandError):
        call_command("health", "beat", "--stale-seconds", "60")


def test_a_worker_that_never_took_a_tick_while_beat_sends_is_stuck():
    """No heartbeat at all (not even the one a worker records when it starts) while ticks go out."""
    beats(worker_ago=None, beat_ago=1)
    assert "never taken a poll tick" in worker_problem(WORKER, stale_seconds=60)
