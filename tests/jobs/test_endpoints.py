"""An endpoint's side of polling: its lease and the status budget every worker shares."""

import time
from datetime import timedelta

from django.utils import timezone

from jobs.models import Endpoint
from jobs.services import endpoints
from tests.factories import make_endpoint


def test_only_one_poller_holds_an_endpoint_until_its_lease_runs_out(db):
    """A second acquire fails while the lease holds, and succeeds once it has run out."""
    endpoint = make_endpoint()
    now = timezone.now()
    assert endpoints.endpoint_acquire(endpoint.pk, seconds=10, now=now)
    assert endpoints.endpoint_acquire(endpoint.pk, seconds=10, now=now + timedelta(seconds=5)) is None
    assert endpoints.endpoint_acquire(endpoint.pk, seconds=10, now=now + timedelta(seconds=11))


def test_a_released_endpoint_can_be_taken_at_once(db):
    """Releasing with the right token frees the endpoint; a stale token changes nothing."""
    endpoint = make_endpoint()
    token = endpoints.endpoint_acquire(endpoint.pk, seconds=60)
    endpoints.endpoint_release(endpoint.pk, "not-the-token")
    assert endpoints.endpoint_acquire(endpoint.pk, seconds=60) is None
    endpoints.endpoint_release(endpoint.pk, token)
    assert endpoints.endpoint_acquire(endpoint.pk, seconds=60)


def test_the_status_budget_counts_the_last_ten_seconds(db, settings):
    """Reserved calls use up the window's share of the limit, and old seconds fall out of it."""
    settings.RATE_LIMIT_SHARE = 0.5
    endpoint = make_endpoint(status_rate_per_10s=2000)
    token = endpoints.endpoint_acquire(endpoint.pk, seconds=60)
    endpoint.refresh_from_db()
    now = time.time()
    assert endpoints.status_budget(endpoint, now_ts=now) == 1000
    endpoints.status_reserve(endpoint, token, 600, now_ts=now)
    assert endpoints.status_budget(endpoint, now_ts=now + 1) == 400
    assert endpoints.status_budget(endpoint, now_ts=now + 12) == 1000
    assert Endpoint.objects.get(pk=endpoint.pk).status_calls == endpoint.status_calls
