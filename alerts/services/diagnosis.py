"""Why a queue is stuck, in one sentence, from /health and our own records."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from jobs.models import HealthSnapshot

# A /health answer older than this says nothing about now.
HEALTH_FRESH = timedelta(seconds=120)


@dataclass(frozen=True)
class Diagnosis:
    cause: str  # a short name: no_workers, unhealthy, throttled, initializing, key_refused, unknown_endpoint, ...
    sentence: str
    health: dict


# Passed as `snapshot` when the caller has not read the endpoint's newest /health answer itself.
READ_SNAPSHOT = object()


def diagnose_queue(endpoint, *, stall=None, overdue=0, queued=0, now=None, snapshot=READ_SNAPSHOT) -> Diagnosis:
    """The most likely reason the endpoint's queue does not move; the first cause that applies wins.

    `snapshot` is the endpoint's newest /health answer when the caller has it (the rule reads every endpoint's at
    once), None when there is none; anything older than HEALTH_FRESH counts as none.
    """
    now = now or timezone.now()
    if endpoint.auth_failed_at:
        return Diagnosis("key_refused", "RunPod refuses the endpoint's API key (401): an admin must update it.", {})
    if endpoint.not_found_at:
        return Diagnosis(
            "unknown_endpoint", f"RunPod does not know the endpoint id {endpoint.runpod_id!r} (404): check it.", {}
        )
    if snapshot is READ_SNAPSHOT:
        snapshot = HealthSnapshot.objects.filter(endpoint=endpoint).order_by("-taken_at").first()
    if snapshot is not None and snapshot.taken_at < now - HEALTH_FRESH:
        snapshot = None
    if stall is not None or overdue:
        return _polling_behind(snapshot, stall=stall, overdue=overdue, queued=queued)
    if snapshot is None:
        return Diagnosis("no_health", "No recent /health answer, so the workers' state is unknown.", {})
    return diagnose_health(snapshot)


def _polling_behind(snapshot, *, stall, overdue, queued) -> Diagnosis:
    why = stall.reason if stall is not None else f"{overdue} job(s) are overdue for a poll."
    health = diagnose_health(snapshot).health if snapshot is not None else {}
    if snapshot is not None and queued and snapshot.jobs_in_queue == 0 and snapshot.jobs_in_progress == 0:
        sentence = (
            f"RunPod reports an empty queue while {queued} job(s) wait here: our own polling is behind "
            f"(too many jobs for the poller, or its rate budget is spent). {why}"
        )
        return Diagnosis("polling_behind", sentence, health)
    return Diagnosis(
        "polling_behind", f"Our own polling is behind, so the queue may not be stuck at RunPod: {why}", health
    )


def diagnose_health(s) -> Diagnosis:
    health = {
        "in_queue": s.jobs_in_queue,
        "in_progress": s.jobs_in_progress,
        "idle": s.workers_idle,
        "initializing": s.workers_initializing,
        "ready": s.workers_ready,
        "running": s.workers_running,
        "throttled": s.workers_throttled,
        "unhealthy": s.workers_unhealthy,
        "taken_at": s.taken_at.isoformat(),
    }
    working = s.workers_running + s.workers_idle
    if s.workers_total == 0:
        return Diagnosis(
            "no_workers",
            "No workers at all: max workers is 0, or the endpoint scaled to zero and is not scaling up.",
            health,
        )
    if working == 0:
        # Name the state most of the workers are stuck in; unhealthy first on a tie, it is the one to fix.
        stuck = max(
            (s.workers_unhealthy, 3, "unhealthy"),
            (s.workers_throttled, 2, "throttled"),
            (s.workers_initializing, 1, "initializing"),
        )
        if stuck[0]:
            return Diagnosis(stuck[2], _STUCK_SENTENCES[stuck[2]].format(n=stuck[0]), health)
    return Diagnosis(
        "workers_busy",
        f"Workers are up ({s.workers_running} running, {s.workers_idle} idle) but the queue has not moved.",
        health,
    )


_STUCK_SENTENCES = {
    "unhealthy": "Every worker is unhealthy ({n} unhealthy, none running): check the worker logs and image.",
    "throttled": "Workers are throttled ({n} throttled, none running): no GPU of this type is available now.",
    "initializing": "Workers are stuck initializing ({n} initializing, none running): the cold start is not finishing.",
}
