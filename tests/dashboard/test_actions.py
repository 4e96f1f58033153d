"""What operators do from the pages: submit, track, cancel, retry, run again, purge; and what viewers cannot."""

import json

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import AuditEntry, Job
from jobs.services.clients import client_for
from tests.factories import make_endpoint, make_job
from tests.utils import wait_for

from .conftest import HX

pytestmark = pytest.mark.django_db

GOOD_INPUT = '{"prompt": "a lighthouse"}'


def submit(client, **fields):
    data = {"endpoint": fields.pop("endpoint").pk, "input": GOOD_INPUT, "mode": "async", **fields}
    return client.post(reverse("job_submit"), data, **HX)


# --- Roles ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "action"),
    [("job_cancel", "cancel"), ("job_retry", "retry"), ("job_run_again", "submit")],
)
def test_viewer_posting_a_job_action_gets_403_and_is_audited(as_viewer, name, action):
    """The server refuses a viewer's POST even without a button, and records the attempt."""
    job = make_job(status="FAILED")
    response = as_viewer.post(reverse(name, args=[job.pk]))
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    entry = AuditEntry.objects.get(outcome="denied")
    assert (entry.action, entry.username) == (action, "viewer")
    assert Job.objects.count() == 1


def test_viewer_cannot_submit_track_or_purge(as_viewer, endpoint):
    """Submit, track and purge answer 403 to a viewer, for GET and POST alike."""
    assert as_viewer.get(reverse("job_submit")).status_code == 403
    assert submit(as_viewer, endpoint=endpoint).status_code == 403
    assert as_viewer.post(reverse("job_track"), {"endpoint": endpoint.pk, "runpod_id": "abc"}).status_code == 403
    assert as_viewer.get(reverse("endpoint_purge", args=[endpoint.pk])).status_code == 403
    purge = as_viewer.post(reverse("endpoint_purge", args=[endpoint.pk]), {"confirm": endpoint.name})
    assert purge.status_code == 403
    assert not Job.objects.exists()
    assert AuditEntry.objects.filter(outcome="denied").count() == 3


def test_htmx_refusal_is_a_notice_for_the_flash_area(as_viewer):
    """Through htmx the 403 is a short notice retargeted to the page's flash area."""
    job = make_job(status="IN_PROGRESS")
    response = as_viewer.post(reverse("job_cancel", args=[job.pk]), **HX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"
    assert "<html" not in response.content.decode()


def test_viewer_sees_no_action_buttons(as_viewer, endpoint):
    """Cancel, retry, run again, submit and purge are all absent for a viewer."""
    running = make_job(endpoint, status="IN_PROGRESS")
    failed = make_job(endpoint, status="FAILED")
    pages = [
        reverse("job_detail", args=[running.pk]),
        reverse("job_detail", args=[failed.pk]),
        reverse("endpoint_detail", args=[endpoint.pk]),
        reverse("overview"),
        reverse("job_list"),
    ]
    for url in pages:
        html = as_viewer.get(url).content.decode()
        for marker in ('data-action="cancel"', 'data-action="retry"', 'data-action="run-again"', "Purge queue"):
            assert marker not in html, (url, marker)
        assert reverse("job_submit") not in html


def test_operator_sees_the_buttons_the_job_allows(as_operator):
    """A running job offers cancel, a failed one retry; both offer run again."""
    running = make_job(status="IN_PROGRESS")
    failed = make_job(status="FAILED")
    html = as_operator.get(reverse("job_detail", args=[running.pk])).content.decode()
    assert 'data-action="cancel"' in html and 'data-action="retry"' not in html
    html = as_operator.get(reverse("job_detail", args=[failed.pk])).content.decode()
    assert 'data-action="retry"' in html and 'data-action="cancel"' not in html
    assert 'data-action="run-again"' in html


# --- Submit and track -------------------------------------------------------------------------------------------


def test_submit_creates_a_job_and_goes_to_its_page(as_operator, endpoint, operator):
    """A valid submission stores a PENDING job with the chosen mode and policy, then opens its page."""
    response = submit(
        as_operator,
        endpoint=endpoint,
        mode="stream",
        webhook="https://example.com/hook",
        execution_timeout="60000",
        ttl="3600000",
        low_priority="on",
    )
    job = Job.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("job_detail", args=[job.pk])
    assert (job.status, job.mode, job.streaming, job.submitted_by) == ("PENDING", "run", True, operator)
    assert job.input == {"prompt": "a lighthouse"}
    assert job.policy == {"executionTimeout": 60000, "ttl": 3600000, "lowPriority": True}
    assert AuditEntry.objects.filter(action="submit", outcome="ok", job=job).exists()


def test_sync_mode_submits_to_runsync(as_operator, endpoint):
    """The sync choice becomes a /runsync job."""
    submit(as_operator, endpoint=endpoint, mode="sync")
    assert Job.objects.get().mode == "runsync"


def test_submit_without_htmx_redirects(as_operator, endpoint):
    """Without JavaScript the form posts normally and is redirected to the job."""
    response = as_operator.post(reverse("job_submit"), {"endpoint": endpoint.pk, "input": GOOD_INPUT, "mode": "async"})
    assert response.status_code == 302
    assert response["Location"] == reverse("job_detail", args=[Job.objects.get().pk])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "unclosed', "Not valid JSON"),
        ("[1, 2, 3]", "must be a JSON object"),
        ("", "This field is required"),
    ],
)
def test_bad_json_shows_the_error_and_keeps_what_was_typed(as_operator, endpoint, text, message):
    """Invalid input is refused with a reason, nothing is stored, and the text stays in the form."""
    response = submit(as_operator, endpoint=endpoint, input=text)
    html = response.content.decode()
    assert response.status_code == 422
    assert message in html
    assert 'id="submit-form"' in html
    if text:
        assert f"data-json-input required>{text.replace(chr(34), '&quot;')}</textarea>" in html
    assert not Job.objects.exists()


def test_form_from_the_endpoint_page_comes_back_in_its_compact_form(as_operator, endpoint):
    """An error in the endpoint page's form keeps the endpoint choice hidden, as it was."""
    response = submit(as_operator, endpoint=endpoint, input="{", compact="1")
    html = response.content.decode()
    assert response.status_code == 422
    assert '<input type="hidden" name="compact" value="1">' in html
    assert '<div class="field" hidden>' in html


def test_oversize_input_is_refused_before_anything_is_stored(as_operator, endpoint, monkeypatch):
    """An input over RunPod's size limit shows the limit and keeps the text."""
    monkeypatch.setattr("jobs.runpod.RUN_MAX_BYTES", 1024 * 1024)
    big = json.dumps({"prompt": "x" * (1024 * 1024)})
    response = submit(as_operator, endpoint=endpoint, input=big)
    html = response.content.decode()
    assert response.status_code == 422
    assert "RunPod accepts at most 1 MB for /run" in html
    assert "x" * 1000 in html
    assert not Job.objects.exists()


def test_a_body_over_the_server_limit_keeps_the_form_untouched(as_operator, endpoint, settings):
    """A body Django itself refuses answers 413 into the error area only, so the textarea is not replaced."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = submit(as_operator, endpoint=endpoint, input=json.dumps({"p": "y" * 5000}))
    assert response.status_code == 413
    assert response["HX-Retarget"] == "#submit-errors"
    assert "too large" in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"webhook": "ftp://example.com/x"}, "http:// or https://"),
        ({"execution_timeout": "10"}, "greater than or equal to 5000"),
        ({"ttl": "abc"}, "Enter a whole number"),
        ({"mode": "batch"}, "Select a valid choice"),
    ],
)
def test_bad_webhook_or_policy_is_explained(as_operator, endpoint, fields, message):
    """Webhook and policy values out of range are refused with a reason."""
    response = submit(as_operator, endpoint=endpoint, **fields)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Job.objects.exists()


def test_submit_form_offers_only_enabled_endpoints(as_operator):
    """A disabled endpoint cannot be chosen."""
    make_endpoint(name="on-one")
    off = make_endpoint(name="off-one", enabled=False)
    html = as_operator.get(reverse("job_submit")).content.decode()
    assert "on-one" in html and "off-one" not in html
    response = submit(as_operator, endpoint=off)
    assert response.status_code == 422


def test_track_follows_a_job_by_id(as_operator, endpoint):
    """Tracking stores the id as a job to poll and opens its page."""
    response = as_operator.post(
        reverse("job_track"), {"endpoint": endpoint.pk, "runpod_id": " abc-123 ", "streaming": "on"}, **HX
    )
    job = Job.objects.get()
    assert response["HX-Redirect"] == reverse("job_detail", args=[job.pk])
    assert (job.runpod_id, job.tracked, job.streaming) == ("abc-123", True, True)


def test_track_refuses_an_id_with_spaces(as_operator, endpoint):
    """A job id is one word; anything else is explained in the form."""
    response = as_operator.post(reverse("job_track"), {"endpoint": endpoint.pk, "runpod_id": "two words"}, **HX)
    assert response.status_code == 422
    assert "single word" in response.content.decode()


# --- Actions that reach RunPod (the simulator) ------------------------------------------------------------------


def sent_job(endpoint, **input_fields):
    job = services.job_submit(endpoint=endpoint, input={"simulate": input_fields})
    services.job_send(job.pk)
    job.refresh_from_db()
    assert job.runpod_id, "the simulator accepted the job"
    return job


def test_cancel_reaches_runpod_and_updates_the_page(as_operator, sim_endpoint):
    """Cancelling a running job calls RunPod, shows the outcome, and is audited."""
    job = sent_job(sim_endpoint, seconds=30)
    response = as_operator.post(reverse("job_cancel", args=[job.pk]), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Cancelled." in html and 'id="job-live"' in html
    job.refresh_from_db()
    assert job.status == "CANCELLED"
    assert AuditEntry.objects.filter(action="cancel", outcome="ok", job=job).exists()


def test_retry_reaches_runpod_for_a_failed_job(as_operator, sim_endpoint):
    """Retrying a FAILED job puts it back in the queue at RunPod."""
    job = sent_job(sim_endpoint, seconds=0.05, fail="boom")
    with client_for(sim_endpoint) as client:
        state = wait_for(
            lambda: (s := client.status(job.runpod_id)).status == "FAILED" and s, timeout=20, message="a failure"
        )
    services.job_apply_state(job, state, source="poll")
    response = as_operator.post(reverse("job_retry", args=[job.pk]), **HX)
    assert response.status_code == 200
    assert Job.objects.get(pk=job.pk).status == "IN_QUEUE"
    assert AuditEntry.objects.filter(action="retry", outcome="ok").exists()


def test_cancelling_a_finished_job_is_refused_with_a_reason(as_operator):
    """A job in the wrong state gets a readable 409, not a 500."""
    job = make_job(status="COMPLETED")
    response = as_operator.post(reverse("job_cancel", args=[job.pk]), **HX)
    assert response.status_code == 409
    assert "cannot be cancelled" in response.content.decode()


def test_runpod_failure_is_shown_not_raised(as_operator):
    """When RunPod cannot be reached the page says so (502) and the audit log records the error."""
    dead = make_endpoint(base_url="http://127.0.0.1:9/v2")
    job = make_job(dead, status="IN_PROGRESS")
    response = as_operator.post(reverse("job_cancel", args=[job.pk]), **HX)
    assert response.status_code == 502
    assert "RunPod did not answer properly" in response.content.decode()
    assert AuditEntry.objects.filter(action="cancel", outcome="error").exists()


def test_action_without_htmx_redirects_with_a_message(as_operator):
    """Without JavaScript an action redirects back to the job with the outcome as a message."""
    job = make_job(status="COMPLETED")
    response = as_operator.post(reverse("job_cancel", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("job_detail", args=[job.pk])
    assert "cannot be cancelled" in response.content.decode()


def test_run_again_creates_a_new_job_with_the_same_input(as_operator, endpoint):
    """Run again submits a copy and opens the new job's page."""
    job = make_job(endpoint, status="COMPLETED", input={"prompt": "again"}, policy={"ttl": 60000})
    response = as_operator.post(reverse("job_run_again", args=[job.pk]), **HX)
    new = Job.objects.exclude(pk=job.pk).get()
    assert response["HX-Redirect"] == reverse("job_detail", args=[new.pk])
    assert (new.input, new.policy, new.status) == ({"prompt": "again"}, {"ttl": 60000}, "PENDING")


def test_purge_page_shows_the_queue_and_asks_for_the_name(as_operator, endpoint):
    """The purge page shows what is queued, that running jobs are safe, and asks for typed confirmation."""
    make_job(endpoint, status="IN_QUEUE")
    html = as_operator.get(reverse("endpoint_purge", args=[endpoint.pk])).content.decode()
    assert "Running jobs are not affected" in html
    assert f'data-confirm-match="{endpoint.name}"' in html
    assert "Queued jobs tracked here" in html


def test_purge_needs_the_exact_name(as_operator, sim_endpoint):
    """A wrong confirmation purges nothing and says what to type."""
    response = as_operator.post(reverse("endpoint_purge", args=[sim_endpoint.pk]), {"confirm": "nope"}, **HX)
    assert response.status_code == 422
    assert f"Type {sim_endpoint.name} exactly" in response.content.decode()
    assert not AuditEntry.objects.filter(action="purge").exists()


def test_purge_reports_how_many_runpod_removed(as_operator, sim_endpoint):
    """Purging a busy queue calls RunPod and shows its count, which the audit log keeps."""
    for _ in range(10):
        sent_job(sim_endpoint, seconds=30)
    response = as_operator.post(reverse("endpoint_purge", args=[sim_endpoint.pk]), {"confirm": sim_endpoint.name}, **HX)
    entry = AuditEntry.objects.get(action="purge", outcome="ok")
    removed = entry.detail["removed"]
    assert response.status_code == 200
    assert removed >= 1
    assert f"RunPod removed <b>{removed}</b> queued job" in response.content.decode()
