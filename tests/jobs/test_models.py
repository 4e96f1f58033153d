from django.db import connection

from jobs.models import Endpoint, is_final
from tests.factories import make_endpoint, make_job


def test_api_key_is_encrypted_at_rest(db):
    """The API key column holds a Fernet token, never the key itself."""
    endpoint = make_endpoint(api_key="rp_secret_ABC123")
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM jobs_endpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert "rp_secret_ABC123" not in stored
    assert Endpoint.objects.get(pk=endpoint.pk).api_key == "rp_secret_ABC123"


def test_unknown_states_are_not_final():
    """A state RunPod may add later keeps the job polled."""
    assert not is_final("WARMING_UP")
    assert not is_final("RUNNING")
    assert is_final("CANCELLED")


def test_retry_is_offered_only_for_failed_or_timed_out_jobs(db):
    """Only FAILED and TIMED_OUT jobs that RunPod still holds can be retried."""
    assert make_job(status="FAILED").can_retry
    assert make_job(status="TIMED_OUT").can_retry
    assert not make_job(status="FAILED", expired=True).can_retry
    assert not make_job(status="COMPLETED").can_retry
