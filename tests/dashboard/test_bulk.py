"""The bulk action pages: the dry run from the list's filter, the typed confirmation, progress, stop and roles."""

import pytest
from django.urls import reverse

from jobs import selectors, services
from jobs.models import AuditEntry, BulkAction, BulkItem, Job
from tests.factories import make_endpoint, make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


def test_the_jobs_list_links_its_filter_to_the_bulk_page_for_operators_only(as_operator, as_viewer):
    """The list's filter goes along to the bulk page; viewers see no such link."""
    page = as_operator.get(reverse("job_list"), {"status": "IN_QUEUE"}).content.decode()
    assert 'href="/jobs/bulk/?status=IN_QUEUE"' in page
    assert "bulk-link" not in as_viewer.get(reverse("job_list")).content.decode()


def test_the_dry_run_shows_counts_endpoints_and_skips(as_operator):
    """Matched, acted-on and skipped counts, per endpoint and per outcome, before anything happens."""
    endpoint = make_endpoint(name="gpu-east")
    make_job(endpoint, status="IN_QUEUE")
    make_job(endpoint, status="COMPLETED")
    page = as_operator.get(reverse("bulk_new"), {"endpoint": endpoint.pk, "kind": "cancel"}).content.decode()
    assert 'data-figure="total">2<' in page and 'data-figure="acted">1<' in page
    assert "gpu-east" in page and "already finished (COMPLETED)" in page
    assert not BulkAction.objects.exists() and Job.objects.filter(status="IN_QUEUE").count() == 1


def test_changing_the_action_redraws_the_dry_run(as_operator):
    """An htmx GET with another kind answers only the panel, counted for that kind."""
    endpoint = make_endpoint()
    make_job(endpoint, status="FAILED")
    response = as_operator.get(reverse("bulk_new"), {"endpoint": endpoint.pk, "kind": "retry"}, **HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="bulk-panel"') and 'data-figure="acted">1<' in body


def test_a_wrong_confirmation_keeps_what_was_typed_and_says_what_to_type(as_operator, settings):
    """Over the threshold a wrong number is refused with 422, the panel again and the typed text kept."""
    settings.BULK_CONFIRM_THRESHOLD = 1
    endpoint = make_endpoint()
    make_job(endpoint)
    make_job(endpoint)
    data = {"endpoint": endpoint.pk, "kind": "cancel", "confirm": "twenty"}
    response = as_operator.post(reverse("bulk_new"), data, **HX)
    body = response.content.decode()
    assert response.status_code == 422 and "Type 2 (the number of jobs) to confirm." in body
    assert 'value="twenty"' in body and not BulkAction.objects.exists()


def test_starting_redirects_to_the_progress_page(as_operator):
    """A confirmed start stores the batch and sends the browser to its progress."""
    endpoint = make_endpoint()
    make_job(endpoint)
    response = as_operator.post(reverse("bulk_new"), {"endpoint": endpoint.pk, "kind": "stop_tracking"}, **HX)
    bulk = BulkAction.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == f"/jobs/bulk/{bulk.pk}/"
    assert bulk.kind == "stop_tracking" and bulk.filter_query == f"endpoint={endpoint.pk}"


def test_viewers_cannot_start_or_stop_and_are_audited(as_viewer, operator):
    """A viewer's POST is refused with 403 and audited as denied; the batch is untouched."""
    endpoint = make_endpoint()
    make_job(endpoint)
    bulk = services.bulk_start(kind="cancel", filters=selectors.JobFilters(endpoint_id=endpoint.pk), user=operator)
    assert as_viewer.post(reverse("bulk_new"), {"kind": "cancel"}).status_code == 403
    assert as_viewer.post(reverse("bulk_stop", args=[bulk.pk])).status_code == 403
    assert AuditEntry.objects.filter(action="bulk", outcome="denied").count() == 2
    assert BulkAction.objects.get(pk=bulk.pk).state == "running"


def test_the_progress_page_shows_counts_reasons_and_a_stop_button(as_operator, operator):
    """Done, skipped, failed and left, the reasons, and Stop while it runs; stopping answers the panel."""
    endpoint = make_endpoint()
    jobs = [make_job(endpoint) for _ in range(3)]
    bulk = services.bulk_start(kind="cancel", filters=selectors.JobFilters(endpoint_id=endpoint.pk), user=operator)
    BulkItem.objects.filter(bulk=bulk, job=jobs[0]).update(state="skipped", reason="already finished (COMPLETED)")
    page = as_operator.get(reverse("bulk_detail", args=[bulk.pk])).content.decode()
    assert 'data-count="skipped">1<' in page and 'data-count="left">2<' in page
    assert "already finished (COMPLETED)" in page and 'data-action="stop"' in page and "every 1s" in page
    response = as_operator.post(reverse("bulk_stop", args=[bulk.pk]), **HX)
    body = response.content.decode()
    assert "Stopping after the job in hand." in body and 'data-state="stopped"' in body and "every 1s" not in body
    assert reverse("bulk_detail", args=[999]) and as_operator.get(reverse("bulk_detail", args=[999])).status_code == 404
