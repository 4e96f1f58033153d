"""Health snapshots and our own retention."""

from datetime import timedelta

from django.utils import timezone

from jobs import runpod, services
from jobs.models import HealthSnapshot, Job
from jobs.services.health import health_failed, health_store
from tests.factories import make_endpoint, make_job


def health(**counts):
    fields = {name: 0 for name in runpod.Health.__dataclass_fields__ if name != "raw"}
    fields.update(counts)
    return runpod.Health(**fields, raw={"workers": {"running": counts.get("workers_running", 0)}})


def test_a_snapshot_keeps_every_counter_and_the_raw_answer(db):
    """Each /health counter lands in its column, and the answer is kept as sent."""
    endpoint = make_endpoint()
    snapshot = health_store(endpoint, health(jobs_in_queue=7, workers_running=3, workers_unhealthy=1))
    snapshot.refresh_from_db()
    assert (snapshot.jobs_in_queue, snapshot.workers_running, snapshot.workers_unhealthy) == (7, 3, 1)
    assert snapshot.workers_total == 4 and snapshot.raw == {"workers": {"running": 3}}
    endpoint.refresh_from_db()
    assert endpoint.last_health_at == snapshot.taken_at


def test_a_health_404_marks_the_endpoint_unknown(db):
    """/health answering 404 means RunPod does not know the endpoint id."""
    endpoint = make_endpoint()
    health_failed(endpoint, runpod.NotFoundError("no", status_code=404))
    endpoint.refresh_from_db()
    assert endpoint.not_found_at and "does not know" in endpoint.last_error


def test_pruning_is_off_unless_configured(db, settings):
    """By default we keep everything."""
    make_job(created_at=timezone.now() - timedelta(days=400), next_poll_at=None)
    assert services.history_prune() == {"jobs": 0, "snapshots": 0}
    assert Job.objects.count() == 1


def test_pruning_removes_old_finished_jobs_and_snapshots_only(db, settings):
    """With retention set, old finished jobs and snapshots go; anything still being polled stays."""
    settings.JOB_RETENTION_DAYS = 30
    settings.SNAPSHOT_RETENTION_DAYS = 7
    now = timezone.now()
    endpoint = make_endpoint()
    old_done = make_job(endpoint, created_at=now - timedelta(days=31), next_poll_at=None, status="COMPLETED")
    old_active = make_job(endpoint, created_at=now - timedelta(days=31), next_poll_at=now, status="IN_QUEUE")
    recent = make_job(endpoint, created_at=now - timedelta(days=1), next_poll_at=None, status="COMPLETED")
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now - timedelta(days=8))
    kept = HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now - timedelta(days=1))
    services.history_prune(now)
    assert set(Job.objects.values_list("pk", flat=True)) == {old_active.pk, recent.pk}
    assert not Job.objects.filter(pk=old_done.pk).exists()
    assert list(HealthSnapshot.objects.values_list("pk", flat=True)) == [kept.pk]
