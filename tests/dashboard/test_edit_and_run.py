"""Edit and run: the submit form filled in from a job, the new job's parent, the chain of attempts on both pages."""

import json

import pytest
from django.urls import reverse

from jobs import selectors, services
from jobs.models import AuditEntry, Endpoint, Job
from tests.factories import make_endpoint, make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


def edit_page(client, job):
    return client.get(reverse("job_submit") + f"?from={job.pk}")


def post_edit(client, job, **fields):
    data = {"endpoint": job.endpoint_id, "input": '{"prompt": "edited"}', "mode": "async", "parent": job.pk}
    return client.post(reverse("job_submit"), {**data, **fields}, **HX)


def test_edit_and_run_fills_the_form_with_the_jobs_input_mode_webhook_and_policy(as_operator):
    """The form opens with the job's values, editable, and names the job it is an attempt of."""
    job = make_job(
        input={"prompt": "a <b>cat</b>", "n": 2},
        mode="runsync",
        webhook="https://hooks.example.com/x",
        policy={"executionTimeout": 60_000, "ttl": 120_000, "lowPriority": True},
    )
    response = edit_page(as_operator, job)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Edit and run" in html and f'href="{job.get_absolute_url()}"' in html
    assert "&quot;prompt&quot;: &quot;a &lt;b&gt;cat&lt;/b&gt;&quot;" in html  # the input, escaped, in the textarea
    assert _checked(html, "sync") and not _checked(html, "async")
    assert 'value="https://hooks.example.com/x"' in html
    assert 'value="60000"' in html and 'value="120000"' in html
    assert f'<input type="hidden" name="parent" value="{job.pk}"' in html


def _checked(html, mode):
    tag = next(part for part in html.split("<input") if f'value="{mode}"' in part and 'name="mode"' in part)
    return "checked" in tag.split(">")[0]


def test_the_edited_job_records_its_parent_and_the_audit_says_what_changed(as_operator):
    """Submitting the edited form creates a new PENDING job whose parent is the original, audited with the edits."""
    job = make_job(input={"prompt": "first"}, status="FAILED")
    response = post_edit(as_operator, job, input='{"prompt": "second"}', execution_timeout="30000")
    new = Job.objects.exclude(pk=job.pk).get()
    assert response["HX-Redirect"] == new.get_absolute_url()
    assert (new.parent_id, new.status, new.input, new.policy) == (
        job.pk,
        "PENDING",
        {"prompt": "second"},
        {"executionTimeout": 30000},
    )
    entry = AuditEntry.objects.get(action="submit", job=new)
    assert entry.detail == {"parent": job.pk, "edited": ["input", "policy"]}
    assert f"a new attempt of job {job.pk}: input, policy edited" in entry.message


def test_both_pages_link_to_each_other(as_operator):
    """The new job's page links to its parent, and the parent's page lists the new attempt."""
    job = make_job()
    post_edit(as_operator, job)
    new = Job.objects.get(parent=job)
    child_html = as_operator.get(new.get_absolute_url()).content.decode()
    assert f'id="parent-link" href="{job.get_absolute_url()}"' in child_html
    assert f'href="{job.get_absolute_url()}">#{job.pk}</a>' in child_html
    parent_html = as_operator.get(job.get_absolute_url()).content.decode()
    assert f'href="{new.get_absolute_url()}">#{new.pk}</a>' in parent_html
    assert f"?job={new.pk}&amp;job={job.pk}" in parent_html  # compare with it


def test_viewers_get_no_edit_button_and_a_403_with_an_audit_entry(as_viewer):
    """Edit and run is an operator's action: no button for viewers, the form and the post refused on the server."""
    job = make_job()
    assert 'data-action="edit-and-run"' not in as_viewer.get(job.get_absolute_url()).content.decode()
    assert edit_page(as_viewer, job).status_code == 403
    assert post_edit(as_viewer, job).status_code == 403
    assert Job.objects.count() == 1
    assert AuditEntry.objects.get(outcome="denied").action == "submit"


def test_operators_see_the_edit_button(as_operator):
    job = make_job()
    html = as_operator.get(job.get_absolute_url()).content.decode()
    assert f'href="{reverse("job_submit")}?from={job.pk}"' in html


@pytest.mark.parametrize("ref", ["999999", "abc", "²", "9" * 30])
def test_editing_a_job_that_does_not_exist_is_a_404(as_operator, ref):
    """A missing or malformed ?from= is a plain 404, never a 500."""
    assert as_operator.get(reverse("job_submit") + f"?from={ref}").status_code == 404


def test_a_parent_deleted_before_the_post_is_explained_and_the_form_kept(as_operator):
    """The form comes back with what was typed and a sentence; nothing is submitted."""
    job = make_job()
    pk = job.pk
    job.delete()
    response = post_edit(as_operator, Job(pk=pk, endpoint=make_endpoint()), input='{"kept": "typed"}')
    html = response.content.decode()
    assert response.status_code == 422
    assert f"Job {pk}, which this was edited from, no longer exists" in html
    assert "&quot;kept&quot;: &quot;typed&quot;" in html
    assert not Job.objects.exists()


def test_a_disabled_endpoint_is_said_before_and_refused_with_a_sentence(as_operator):
    """The form warns that the job's endpoint is disabled; posting to it anyway is refused with the reason."""
    endpoint = make_endpoint(name="retired")
    make_endpoint(name="current")
    job = make_job(endpoint=endpoint)
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    html = edit_page(as_operator, job).content.decode()
    assert "The endpoint retired is disabled, so nothing can be submitted to it" in html
    response = post_edit(as_operator, job)
    assert response.status_code == 422
    assert "The endpoint retired is disabled, so nothing can be submitted to it" in response.content.decode()
    assert Job.objects.count() == 1


def test_an_s3_config_is_not_copied_and_the_form_says_so(as_operator):
    """s3Config holds secrets and is never shown, so edit and run leaves it out and says Run again keeps it."""
    endpoint = make_endpoint()
    job = services.job_submit(
        endpoint=endpoint,
        input={"p": 1},
        s3_config={"accessId": "id", "accessSecret": "s3cr3t", "bucketName": "b", "endpointUrl": "https://s3"},
    )
    html = edit_page(as_operator, job).content.decode()
    assert "s3Config is not copied" in html and "s3cr3t" not in html
    post_edit(as_operator, job)
    assert Job.objects.get(parent=job).s3_config == ""


def test_run_again_records_its_parent_too(as_operator):
    """Run again is another attempt of the same job: the new job joins the chain, audited as unchanged."""
    job = services.job_submit(endpoint=make_endpoint(), input={"p": 1}, policy={"ttl": 60_000})
    as_operator.post(reverse("job_run_again", args=[job.pk]))
    new = Job.objects.get(parent=job)
    entry = AuditEntry.objects.get(action="submit", job=new)
    assert entry.detail == {"parent": job.pk, "edited": []}
    assert "same input and options" in entry.message


def test_the_chain_shows_ancestors_and_descendants_as_a_tree(as_viewer):
    """From the middle of a chain its page shows every earlier attempt and the later ones, nested by generation."""
    root = make_job()
    middle = make_job(parent=root, endpoint=root.endpoint)
    child_a = make_job(parent=middle, endpoint=root.endpoint)
    grandchild = make_job(parent=child_a, endpoint=root.endpoint)
    child_b = make_job(parent=middle, endpoint=root.endpoint)
    attempts = selectors.job_attempts(middle)
    assert [job.pk for job in attempts.earlier] == [root.pk]
    assert [(a.job.pk, a.depth) for a in attempts.later] == [(child_a.pk, 1), (grandchild.pk, 2), (child_b.pk, 1)]
    html = as_viewer.get(grandchild.get_absolute_url()).content.decode()
    for job in (root, middle, child_a):
        assert f'href="{job.get_absolute_url()}">#{job.pk}</a>' in html
    assert "this job" in html


def test_a_long_chain_is_bounded_with_a_pointer_to_the_rest(as_viewer, django_assert_max_num_queries):
    """Sixty generations: from the middle the page lists twenty on each side and says there are more, in bounded
    queries."""
    endpoint = make_endpoint()
    chain = [make_job(endpoint=endpoint)]
    for _ in range(60):
        chain.append(make_job(endpoint=endpoint, parent=chain[-1]))
    middle = chain[30]
    with django_assert_max_num_queries(45):
        attempts = selectors.job_attempts(middle, limit=20)
    assert [job.pk for job in attempts.earlier] == [job.pk for job in chain[10:30]]
    assert [a.job.pk for a in attempts.later] == [job.pk for job in chain[31:51]]
    assert attempts.more_earlier and attempts.more_later
    html = as_viewer.get(middle.get_absolute_url()).content.decode()
    assert "Earlier attempts: see" in html and "More later attempts" in html
    assert f"#{chain[9].pk}<" not in html


def test_a_job_without_attempts_still_offers_compare(as_viewer):
    """With no chain the panel is only the compare box (viewers may compare)."""
    job = make_job()
    html = as_viewer.get(job.get_absolute_url()).content.decode()
    assert '<h2 class="panel-title">Compare</h2>' in html and 'class="attempts"' not in html
    assert f'<input type="hidden" name="job" value="{job.pk}">' in html


def test_the_submit_form_without_from_is_unchanged(as_operator):
    """A plain submit has no parent and the usual heading."""
    endpoint = make_endpoint()
    html = as_operator.get(reverse("job_submit")).content.decode()
    assert "<h1>Submit a job</h1>" in html and 'name="parent"' in html
    as_operator.post(
        reverse("job_submit"), {"endpoint": endpoint.pk, "input": json.dumps({"p": 1}), "mode": "async"}, **HX
    )
    assert Job.objects.get().parent_id is None
