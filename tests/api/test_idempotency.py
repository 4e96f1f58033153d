"""Idempotency-Key on submit: the same key within 24 h returns the first job, never a second, even when retries
arrive at the same moment."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from api import idempotency
from api.models import IdempotencyKey
from jobs.models import AuditEntry, Job

pytestmark = pytest.mark.django_db
API = "/api/v1"


def submit(client, endpoint, key, input=None):
    body = {"endpoint": endpoint.pk, "input": input or {"prompt": "once"}}
    return client.post(
        f"{API}/jobs", json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_a_retry_with_the_same_key_returns_the_first_job(token_operator, endpoint):
    """The second submit answers 200 with the first job's id; one job and one submit audit exist."""
    first = submit(token_operator, endpoint, "k-1")
    again = submit(token_operator, endpoint, "k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1 and AuditEntry.objects.filter(action="submit").count() == 1


def test_the_same_key_with_another_body_is_409(token_operator, endpoint):
    """Reusing a key for a different request is a client bug, answered 409 without a new job."""
    submit(token_operator, endpoint, "k-2")
    response = submit(token_operator, endpoint, "k-2", input={"prompt": "different"})
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"
    assert Job.objects.count() == 1


def test_keys_are_per_user(token_operator, endpoint, db):
    """Another user's identical key is a different key."""
    from tests.api.conftest import token_client
    from tests.factories import make_user

    other = token_client(make_user("Operators"))
    assert submit(token_operator, endpoint, "shared").json()["id"] != submit(other, endpoint, "shared").json()["id"]


def test_a_key_older_than_a_day_submits_anew(token_operator, endpoint):
    """After 24 h the key is forgotten: the same key makes a new job."""
    first = submit(token_operator, endpoint, "k-3").json()["id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    second = submit(token_operator, endpoint, "k-3")
    assert second.status_code == 201 and second.json()["id"] != first
    assert IdempotencyKey.objects.get().job_id == second.json()["id"]


def test_a_failed_submit_does_not_use_up_the_key(token_operator, endpoint):
    """A refused request stores no key, so the corrected request with the same key goes through."""
    bad = token_operator.post(
        f"{API}/jobs",
        json.dumps({"endpoint": endpoint.pk, "input": {"p": 1}, "webhook": "ftp://x"}),
        content_type="application/json",
        headers={"Idempotency-Key": "k-4"},
    )
    assert bad.status_code == 422 and not IdempotencyKey.objects.exists()
    assert submit(token_operator, endpoint, "k-4").status_code == 201


@pytest.mark.parametrize("key", [" ", "x" * 201, "tab\there"])
def test_a_malformed_key_is_400(token_operator, endpoint, key):
    """An empty, over-long or unprintable key is refused before anything is stored."""
    response = submit(token_operator, endpoint, key)
    assert response.status_code == 400 and response.json()["code"] == "bad_idempotency_key"
    assert not Job.objects.exists()


def test_old_keys_are_pruned_as_new_ones_arrive(token_operator, endpoint):
    """Each new key deletes a batch of expired ones, so the table holds about a day of keys."""
    submit(token_operator, endpoint, "old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    submit(token_operator, endpoint, "new")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_make_one_job(operator, endpoint, sends_enqueued):
    """Eight threads sending the same key at once get one job between them, and only it is ever sent."""
    from tests.api.conftest import token_client

    raw = token_client(operator).raw_token
    results, barrier = [], threading.Barrier(8)

    def retry():
        client = Client(headers={"Authorization": f"Bearer {raw}"})
        barrier.wait()
        try:
            results.append(submit(client, endpoint, "race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in results) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert Job.objects.count() == 1 and idempotency.IdempotencyKey.objects.count() == 1
    assert sends_enqueued == [Job.objects.get().pk]
