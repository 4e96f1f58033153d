"""A key revoked at RunPod (401): the endpoint is flagged on the pages, polling for it backs off, and every other
endpoint goes on as before; a new key from an admin brings it back at once."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.admin import EndpointForm
from jobs.models import Job
from jobs.services.health import endpoints_snapshot_health
from jobs.services.polling import poll_round
from tests.factories import make_endpoint
from tests.utils import logged_in, wait_for

from .figures import record
from .servers import RecordingSimulator

pytestmark = pytest.mark.django_db(transaction=True)

GOOD_KEY = "rpa_GOOD_KEY_0001"
REVOKED_KEY = "rpa_REVOKED_KEY_0002"
KEY_WARNING = "RunPod refuses this endpoint&#x27;s API key"
JOBS_PER_ENDPOINT = 30
WATCH_SECONDS = 6


@pytest.fixture
def keyed_sim():
    with RecordingSimulator(seed=3, api_key=GOOD_KEY, endpoints=[]) as server:
        for name in ("revoked", "healthy"):
            server.add_endpoint(name, min_workers=4, max_workers=8, cold_start=0, job_seconds=[0.1, 0.3])
        yield server


def endpoint_on(sim, name):
    return make_endpoint(name=name, runpod_id=name, base_url=sim.base_url, api_key=GOOD_KEY)


def submit_and_send(endpoint, count):
    jobs = [services.job_submit(endpoint=endpoint, input={"n": i}) for i in range(count)]
    for job in jobs:
        services.job_send(job.pk)
    return jobs


def run_like_beat(endpoints, seconds, until=lambda: True, timeout=30):
    """What beat would do: a poll round every 0.2 s and a health snapshot every second, for at least `seconds`
    and until `until()` holds."""
    start = time.monotonic()
    next_health = 0.0
    while time.monotonic() < start + seconds or not until():
        assert time.monotonic() < start + timeout, "timed out"
        poll_round([e.pk for e in endpoints], budget_seconds=0.5)
        if time.monotonic() >= next_health:
            endpoints_snapshot_health([e.pk for e in endpoints])
            next_health = time.monotonic() + 1
        time.sleep(0.2)


def test_a_revoked_key_is_flagged_backed_off_and_stops_nothing_else(keyed_sim, viewer):
    """After the 401s, the endpoint is flagged and left alone; the healthy one archives everything meanwhile."""
    revoked, healthy = endpoint_on(keyed_sim, "revoked"), endpoint_on(keyed_sim, "healthy")
    revoked_jobs = submit_and_send(revoked, JOBS_PER_ENDPOINT)
    healthy_jobs = submit_and_send(healthy, JOBS_PER_ENDPOINT)
    revoked.api_key = REVOKED_KEY  # what RunPod now thinks of the key we hold
    revoked.save()

    started = time.time()
    healthy_ids = [j.pk for j in healthy_jobs]
    run_like_beat(
        [revoked, healthy],
        WATCH_SECONDS,
        until=lambda: Job.objects.filter(pk__in=healthy_ids, archived=True).count() == JOBS_PER_ENDPOINT,
    )
    watched = time.time() - started

    refused = [r for r in keyed_sim.log.for_endpoint("revoked") if r.start >= started]
    assert refused and all(r.status == 401 for r in refused)
    first_flag = min(r.end for r in refused)
    after_flag = [r for r in refused if r.start > first_flag + 0.5]
    assert len(after_flag) == 0, f"{len(after_flag)} requests after the endpoint was flagged"
    revoked.refresh_from_db()
    assert revoked.key_refused and "401" in revoked.last_error
    for job in Job.objects.filter(pk__in=[j.pk for j in revoked_jobs]):
        assert job.status == "IN_QUEUE" and not job.expired and job.poll_failures == 0
    healthy.refresh_from_db()
    assert not healthy.key_refused

    client = logged_in(viewer)
    assert KEY_WARNING in client.get(revoked.get_absolute_url()).content.decode()
    assert KEY_WARNING not in client.get(healthy.get_absolute_url()).content.decode()
    assert client.get(reverse("overview")).content.decode().count(KEY_WARNING) == 1

    record(
        "key_revoked",
        watched_seconds=round(watched, 1),
        refused_requests=len(refused),
        requests_after_flag=len(after_flag),
        healthy_jobs_archived=JOBS_PER_ENDPOINT,
        revoked_jobs_untouched=JOBS_PER_ENDPOINT,
    )


def test_a_new_key_from_an_admin_resumes_polling_at_once(keyed_sim):
    """Saving a new key clears the flag, and the next round archives the jobs that waited."""
    revoked = endpoint_on(keyed_sim, "revoked")
    jobs = submit_and_send(revoked, 5)
    revoked.api_key = REVOKED_KEY
    revoked.save()
    run_like_beat([revoked], 1)
    revoked.refresh_from_db()
    assert revoked.key_refused

    form = EndpointForm(data={**_form_data(revoked), "api_key": GOOD_KEY}, instance=revoked)
    assert form.is_valid(), form.errors
    form.save()

    def archived():
        poll_round([revoked.pk], budget_seconds=0.5)
        return Job.objects.filter(pk__in=[j.pk for j in jobs], archived=True).count() == len(jobs)

    wait_for(archived, timeout=15, interval=0.2, message="the waiting jobs archived with the new key")
    revoked.refresh_from_db()
    assert not revoked.key_refused and revoked.last_poll_at > timezone.now() - timezone.timedelta(seconds=15)


def _form_data(endpoint):
    fields = EndpointForm.Meta.fields
    data = {name: getattr(endpoint, name) for name in fields if name != "api_key"}
    data["enabled"] = "on" if endpoint.enabled else ""
    return data
