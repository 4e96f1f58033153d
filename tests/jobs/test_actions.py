"""Submit, track, cancel, retry and purge: validation, audit, and RunPod's refusals."""

import pytest
from django.db import connection

from jobs import runpod, services
from jobs.models import AuditEntry, Job
from tests.factories import make_endpoint, make_job


def test_a_submission_is_stored_pending_and_audited(db, endpoint, operator):
    """A valid submission becomes a PENDING job with the audit entry naming who asked."""
    job = services.job_submit(endpoint=endpoint, input={"prompt": "hi"}, user=operator, remote_addr="10.0.0.1")
    assert job.status == "PENDING" and job.submitted_by == operator and job.runpod_id is None
    entry = AuditEntry.objects.get(job=job)
    assert entry.action == "submit" and entry.username == "operator" and entry.remote_addr == "10.0.0.1"


def test_an_oversize_input_is_refused_with_the_limit_and_nothing_is_stored(db, endpoint):
    """An input over RunPod's 10 MB /run limit is refused before anything is stored or sent."""
    big = {"blob": "x" * (runpod.RUN_MAX_BYTES + 1)}
    with pytest.raises(services.InputError, match="10 MB"):
        services.job_submit(endpoint=endpoint, input=big)
    assert not Job.objects.exists() and not AuditEntry.objects.exists()


def test_runsync_accepts_up_to_twenty_megabytes(db, endpoint):
    """The same 11 MB input fits /runsync's 20 MB limit."""
    job = services.job_submit(endpoint=endpoint, input={"blob": "x" * 11_000_000}, mode="runsync")
    assert job.mode == "runsync"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input": ["not", "an", "object"]}, "JSON object"),
        ({"input": {}, "mode": "turbo"}, "Mode"),
        ({"input": {}, "webhook": "ftp://example.com/x"}, "webhook"),
        ({"input": {}, "webhook": "javascript:alert(1)"}, "webhook"),
        ({"input": {}, "policy": {"executionTimeout": 10}}, "executionTimeout"),
        ({"input": {}, "policy": {"ttl": "soon"}}, "ttl"),
        ({"input": {}, "policy": {"lowPriority": "yes"}}, "lowPriority"),
        ({"input": {}, "policy": {"priority": 1}}, "Unknown policy"),
        ({"input": {}, "s3_config": {"bucketName": "b"}}, "s3Config"),
    ],
)
def test_bad_submissions_say_what_is_wrong(db, endpoint, kwargs, message):
    """Each kind of bad submission is refused with a message naming the problem."""
    with pytest.raises(services.InputError, match=message):
        services.job_submit(endpoint=endpoint, **kwargs)
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input": ["a list"]}, "input"),
        ({"input": {"blob": "x" * (runpod.RUN_MAX_BYTES + 1)}}, "input"),
        ({"input": {}, "webhook": "ftp://example.com/x"}, "webhook"),
        ({"input": {}, "policy": {"executionTimeout": 10}}, "policy.executionTimeout"),
        ({"input": {}, "policy": {"ttl": "soon"}}, "policy.ttl"),
        ({"input": {}, "policy": {"priority": 1}}, "policy"),
        ({"input": {}, "s3_config": {"bucketName": "b"}}, "s3_config"),
    ],
)
def test_a_refused_submission_names_the_input_it_is_about(db, endpoint, kwargs, field):
    """The error carries the name of the input it is about, so a form shows it there whatever its wording."""
    with pytest.raises(services.InputError) as refused:
        services.job_submit(endpoint=endpoint, **kwargs)
    assert refused.value.field == field


def test_s3_config_is_stored_encrypted(db, endpoint):
    """s3Config holds secrets: it is kept encrypted, never in the clear."""
    s3 = {"accessId": "AKIA", "accessSecret": "very-secret-s3", "bucketName": "b", "endpointUrl": "https://s3"}
    job = services.job_submit(endpoint=endpoint, input={}, s3_config=s3)
    with connection.cursor() as cursor:
        cursor.execute("SELECT s3_config FROM jobs_job WHERE id = %s", [job.pk])
        stored = cursor.fetchone()[0]
    assert "very-secret-s3" not in stored


def test_tracking_an_id_twice_keeps_one_job(db, endpoint, operator):
    """Tracking is idempotent: the same RunPod id on the same endpoint is one job."""
    first = services.job_track(endpoint=endpoint, runpod_id="abc-123", user=operator)
    second = services.job_track(endpoint=endpoint, runpod_id=" abc-123 ", user=operator)
    assert first.pk == second.pk and first.tracked and first.next_poll_at is not None


@pytest.mark.parametrize("bad", ["", "   ", "two words", "x" * 201])
def test_a_bad_job_id_cannot_be_tracked(db, endpoint, bad):
    """Job ids are single words of reasonable length."""
    with pytest.raises(services.InputError):
        services.job_track(endpoint=endpoint, runpod_id=bad)


def test_a_finished_job_cannot_be_cancelled(db, operator):
    """Cancel is refused for final jobs without calling RunPod."""
    job = make_job(status="COMPLETED")
    with pytest.raises(services.InputError, match="cannot be cancelled"):
        services.job_cancel(job=job, user=operator)


def test_only_failed_or_timed_out_jobs_can_be_retried(db, operator):
    """Retry is refused for a completed job without calling RunPod."""
    with pytest.raises(services.InputError, match="FAILED or TIMED_OUT"):
        services.job_retry(job=make_job(status="COMPLETED"), user=operator)


def test_a_refused_cancel_is_audited_as_an_error(transactional_db, sim, sim_endpoint, operator):
    """When RunPod refuses (here: it does not know the job), the error is shown and audited, not raised raw."""
    job = make_job(sim_endpoint, status="IN_PROGRESS", runpod_id="no-such-job")
    with pytest.raises(services.ActionError, match="404"):
        services.job_cancel(job=job, user=operator)
    entry = AuditEntry.objects.get(action="cancel")
    assert entry.outcome == "error" and entry.username == "operator"
    assert "sim-key" not in (entry.message + str(entry.detail))


def test_run_again_copies_input_and_options(db, endpoint, operator):
    """Run again makes a new PENDING job with the same input, mode and streaming flag."""
    old = make_job(endpoint, status="FAILED", input={"a": 1}, mode="runsync", streaming=False)
    new = services.job_run_again(job=old, user=operator)
    assert new.pk != old.pk and new.input == {"a": 1} and new.mode == "runsync" and new.status == "PENDING"


def test_a_new_attempt_names_what_it_changed_but_never_the_secrets(db, endpoint, operator):
    """Endpoint, mode, webhook, policy and s3Config changes are named in the audit; s3Config's values never are."""
    s3 = {"accessId": "id", "accessSecret": "old-s3cr3t", "bucketName": "b", "endpointUrl": "https://s3"}
    parent = services.job_submit(endpoint=endpoint, input={"p": 1}, s3_config=s3)
    child = services.job_submit(
        endpoint=make_endpoint(),
        input={"p": 1},
        mode="run",
        streaming=True,
        webhook="https://example.com/hook",
        policy={"ttl": 60_000},
        s3_config={**s3, "accessSecret": "new-s3cr3t"},
        user=operator,
        parent=parent,
    )
    entry = AuditEntry.objects.get(job=child)
    assert child.parent_id == parent.pk
    assert entry.detail == {"parent": parent.pk, "edited": ["endpoint", "mode", "webhook", "policy", "s3Config"]}
    assert "s3cr3t" not in entry.message + str(entry.detail)


@pytest.mark.parametrize("action", ["cancel", "retry", "run_again", "track", "purge"])
def test_every_action_on_a_disabled_endpoint_is_refused_with_a_sentence(db, action, operator):
    """Disabled means nothing goes to RunPod for it: each action says so, stores nothing and calls no one."""
    job = make_job(status="FAILED" if action in ("retry", "run_again") else "IN_QUEUE")
    endpoint = job.endpoint
    endpoint.enabled = False
    endpoint.save(update_fields=["enabled"])
    calls = {
        "cancel": lambda: services.job_cancel(job=job, user=operator),
        "retry": lambda: services.job_retry(job=job, user=operator),
        "run_again": lambda: services.job_run_again(job=job, user=operator),
        "track": lambda: services.job_track(endpoint=endpoint, runpod_id="elsewhere-1", user=operator),
        "purge": lambda: services.endpoint_purge_queue(endpoint=endpoint, user=operator),
    }
    before = (Job.objects.count(), AuditEntry.objects.count())
    with pytest.raises(services.InputError, match=rf"The endpoint {endpoint.name} is disabled, so .*enable it again"):
        calls[action]()
    assert (Job.objects.count(), AuditEntry.objects.count()) == before


def test_the_job_page_shows_why_a_disabled_endpoints_job_cannot_be_cancelled(db, as_operator):
    """The Cancel button on a disabled endpoint's job answers 409 with the sentence in the live part."""
    job = make_job(status="IN_QUEUE")
    job.endpoint.enabled = False
    job.endpoint.save(update_fields=["enabled"])
    response = as_operator.post(f"/jobs/{job.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "is disabled, so RunPod is not asked to cancel its jobs" in response.content.decode()
