"""API keys and s3Config secrets: encrypted at rest with the key from settings, and never shown anywhere: not in
pages, the admin, logs, exceptions, audit entries or stored errors, even when RunPod echoes them back."""

import json
import logging

import pytest
from django.db import connection
from django.urls import reverse

from jobs import services
from jobs.fields import fernet
from jobs.models import AuditEntry, Endpoint, Job
from jobs.services.health import endpoints_snapshot_health
from jobs.services.polling import poll_round
from tests.factories import make_endpoint, make_job

from .routes import GETS, World
from .servers import Answer

pytestmark = pytest.mark.django_db

KEY = "rpa_K3Y-THAT-MUST-NEVER-SHOW-0123456789"
S3 = {
    "accessId": "AKIA-S3-ID-NEVER-SHOWN",
    "accessSecret": "s3-secret-never-shown-abcdef0123",
    "bucketName": "results",
    "endpointUrl": "https://s3.example.com",
}
SECRETS = (KEY, S3["accessId"], S3["accessSecret"])


def raw_column(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 - fixed names
        return cursor.fetchone()[0]


def test_api_keys_are_stored_encrypted_with_the_key_from_settings(settings):
    """The column holds a Fernet token of the key; another FIELD_ENCRYPTION_KEY cannot read it."""
    endpoint = make_endpoint(api_key=KEY)
    stored = raw_column("jobs_endpoint", "api_key", endpoint.pk)
    assert KEY not in stored
    assert fernet().decrypt(stored.encode()).decode() == KEY
    assert Endpoint.objects.get(pk=endpoint.pk).api_key == KEY
    settings.FIELD_ENCRYPTION_KEY = "A" * 43 + "="
    with pytest.raises(ValueError, match="cannot decrypt"):
        Endpoint.objects.get(pk=endpoint.pk)


def test_s3_config_is_stored_encrypted(hostile_endpoint):
    """A job's s3Config is one encrypted column; its secrets are nowhere in the row."""
    job = services.job_submit(endpoint=hostile_endpoint, input={"p": 1}, s3_config=S3)
    stored = raw_column("jobs_job", "s3_config", job.pk)
    assert not any(secret in stored for secret in SECRETS)
    assert json.loads(Job.objects.get(pk=job.pk).s3_config) == S3


def echo(status):
    """An answer that repeats the request's Authorization header and body back, as a careless proxy might."""

    def answer(seen):
        text = f"denied for {seen.headers.get('authorization', '')}; you sent {seen.body.decode(errors='replace')}"
        return Answer(status=status, body=text.encode(), headers=(("content-type", "text/plain"),))

    return answer


def exercise_every_path(hostile, endpoint):
    """Send, poll, snapshot, cancel, retry and purge against a RunPod that echoes secrets; return what was raised."""
    raised = []
    hostile.on("run", answer=echo(400))
    sent = services.job_submit(endpoint=endpoint, input={"p": "send"}, s3_config=S3)
    services.job_send(sent.pk)
    hostile.on("status", answer=echo(500))
    polled = make_job(endpoint, status="IN_QUEUE", next_poll_at=sent.created_at)
    poll_round([endpoint.pk], budget_seconds=2)
    hostile.on("status", answer=echo(200))  # a 2xx that is not JSON
    Job.objects.filter(pk=polled.pk).update(next_poll_at=sent.created_at)
    poll_round([endpoint.pk], budget_seconds=2)
    hostile.on("health", answer=echo(401))
    endpoints_snapshot_health([endpoint.pk])
    hostile.on("cancel", answer=echo(502))
    hostile.on("retry", answer=echo(400))
    hostile.on("purge-queue", answer=echo(401))
    failed = make_job(endpoint, status="FAILED", s3_config=json.dumps(S3))
    for action in (
        lambda: services.job_cancel(job=polled),
        lambda: services.job_retry(job=failed),
        lambda: services.endpoint_purge_queue(endpoint=endpoint),
    ):
        try:
            action()
        except services.ActionError as exc:
            raised.append(exc)
    return raised


def exception_texts(exc):
    seen = []
    while exc is not None:
        seen += [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
        exc = exc.__cause__ or exc.__context__
    return seen


def stored_texts():
    texts = [json.dumps(list(AuditEntry.objects.values()), default=str)]
    texts += [json.dumps(list(Endpoint.objects.values("last_error")), default=str)]
    texts += [json.dumps(list(Job.objects.values("submit_error", "error_raw", "last_raw", "input")), default=str)]
    return texts


def admin_pages(client, endpoint):
    urls = ["/admin/jobs/endpoint/", f"/admin/jobs/endpoint/{endpoint.pk}/change/", "/admin/jobs/job/"]
    urls += [f"/admin/jobs/job/{pk}/change/" for pk in Job.objects.values_list("pk", flat=True)]
    urls += ["/admin/jobs/auditentry/"]
    urls += [f"/admin/jobs/auditentry/{pk}/change/" for pk in AuditEntry.objects.values_list("pk", flat=True)]
    pages = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return pages


def dashboard_pages(client, endpoint):
    world = World.around(endpoint, *Job.objects.filter(endpoint=endpoint).order_by("pk")[:2])
    pages = [client.get(world.url(route)).content.decode() for route in GETS]
    for job in Job.objects.all():
        pages.append(client.get(job.get_absolute_url()).content.decode())
        for part in ("input", "output", "error", "raw"):
            pages.append(client.get(reverse("job_json", args=[job.pk, part])).content.decode())
    return pages


@pytest.mark.django_db(transaction=True)
def test_no_secret_shows_anywhere_even_when_runpod_echoes_it(hostile, hostile_endpoint, as_admin, caplog):
    """Errors that repeat the key and s3Config leave no trace of them in logs, errors, audit, pages or admin."""
    endpoint = hostile_endpoint
    endpoint.api_key = KEY
    endpoint.save()
    caplog.set_level(logging.DEBUG)
    raised = exercise_every_path(hostile, endpoint)
    assert any(KEY in seen.headers.get("authorization", "") for seen in hostile.seen), "the key was really sent"
    assert len(raised) == 3 and AuditEntry.objects.filter(outcome="error").count() >= 4

    places = {
        "logs": [caplog.text],
        "exceptions": [text for exc in raised for text in exception_texts(exc)],
        "stored": stored_texts(),
        "pages": dashboard_pages(as_admin, endpoint),
        "admin": admin_pages(as_admin, endpoint),
    }
    assert any("[redacted]" in text for text in places["stored"]), "the echoed bodies were kept, scrubbed"
    for place, texts in places.items():
        for secret in SECRETS:
            assert not any(secret in text for text in texts), f"{secret[:8]}… found in {place}"
