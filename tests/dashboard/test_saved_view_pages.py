"""Saved views on the pages (dashboard/views/saved_views.py): saving from the jobs page, the nav's menu, renaming
and deleting, roles enforced on the server, form errors that keep what was typed, and escaped names."""

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard import saved_views
from dashboard.models import SavedView
from jobs.models import AuditEntry
from tests.factories import make_endpoint, make_job
from tests.utils import logged_in

from .conftest import HX

pytestmark = pytest.mark.django_db

SAVE = reverse("saved_view_create")
SCRIPT = "<script>alert(1)</script>"


def test_jobs_page_offers_to_save_its_normalised_filter(as_viewer):
    """The form carries the page's filter as its form reads it: paging and unknown parameters left out."""
    response = as_viewer.get(reverse("job_list"), {"status": "FAILED", "after": "x", "junk": "1", "range": "1h"})
    assert response.context["save_form"].initial["query"] == "status=FAILED&range=1h"
    assert b"Save this view" in response.content
    # A viewer is not offered the team box.
    assert b'name="team"' not in response.content


def test_viewer_saves_a_private_view_and_lands_on_its_jobs_page(as_viewer, viewer):
    response = as_viewer.post(SAVE, {"name": "My failures", "query": "status=FAILED&bogus=1"})
    view = SavedView.objects.get()
    assert (view.owner, view.filters) == (viewer, {"status": "FAILED"})
    assert response.status_code == 302 and response["Location"] == "/jobs/?status=FAILED"
    page = as_viewer.get(response["Location"]).content.decode()
    assert "Your view <b>My failures</b>" in page  # the jobs page says which view it shows
    assert 'href="/jobs/?status=FAILED"' in page  # and the nav's menu links to it


def test_htmx_save_answers_with_a_client_redirect(as_viewer):
    response = as_viewer.post(SAVE, {"name": "Queued", "query": "status=IN_QUEUE"}, **HX)
    assert response["HX-Redirect"] == "/jobs/?status=IN_QUEUE"


def test_viewer_cannot_save_for_the_team(as_viewer):
    """The server refuses what the page does not offer, and audits the attempt."""
    response = as_viewer.post(SAVE, {"name": "Team", "team": "on", "query": ""})
    assert response.status_code == 403
    assert not SavedView.objects.exists()
    assert AuditEntry.objects.get(action="saved_view_create").outcome == "denied"


def test_operator_saves_a_team_view_that_everyone_sees_in_the_nav(as_operator, as_viewer):
    now = timezone.now()
    endpoint = make_endpoint()
    for _ in range(3):
        make_job(endpoint, status="IN_QUEUE", next_poll_at=now)
    make_job(endpoint, status="FAILED")
    assert b'name="team"' in as_operator.get(reverse("job_list")).content
    as_operator.post(SAVE, {"name": "Queued", "team": "on", "query": f"endpoint={endpoint.pk}"})
    assert SavedView.objects.get().is_team
    assert AuditEntry.objects.get(action="saved_view_create").outcome == "ok"
    menu = as_viewer.get(reverse("saved_views_menu_hx"), **HX).content.decode()
    assert "Team" in menu and "Queued" in menu
    assert 'title="3 active jobs">3</span>' in menu


def test_a_taken_name_is_refused_and_what_was_typed_is_kept(as_viewer, viewer):
    saved_views.saved_view_create(user=viewer, name="Failed", filters={})
    response = as_viewer.post(SAVE, {"name": "failed", "query": "status=FAILED"}, **HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "You already have a view named “failed”" in body
    assert 'value="failed"' in body and 'value="status=FAILED"' in body
    # Without htmx, the saved views page shows the same form and error.
    page = as_viewer.post(SAVE, {"name": "failed", "query": "status=FAILED"})
    assert page.status_code == 422 and "You already have a view named" in page.content.decode()
    assert SavedView.objects.count() == 1


def test_an_empty_name_is_refused(as_viewer):
    response = as_viewer.post(SAVE, {"name": "  ", "query": ""}, **HX)
    assert response.status_code == 422 and b"field-error" in response.content


def test_names_are_escaped_everywhere_they_show(as_viewer, viewer):
    """A name with markup is text in the nav, on the jobs page and on the saved views page."""
    saved_views.saved_view_create(user=viewer, name=SCRIPT, filters={"status": "FAILED"})
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for url in ("/jobs/?status=FAILED", reverse("saved_view_list")):
        page = as_viewer.get(url).content.decode()
        assert SCRIPT not in page
        assert page.count(escaped) >= 2  # the nav's menu and the page itself


def test_owner_renames_a_view_and_a_taken_name_keeps_what_was_typed(as_viewer, viewer):
    first = saved_views.saved_view_create(user=viewer, name="First", filters={})
    saved_views.saved_view_create(user=viewer, name="Second", filters={})
    url = reverse("saved_view_rename", args=[first.pk])
    response = as_viewer.post(url, {f"v{first.pk}-name": "second"})
    assert response.status_code == 422
    assert 'value="second"' in response.content.decode() and "already have a view named" in response.content.decode()
    assert as_viewer.post(url, {f"v{first.pk}-name": "Renamed"}).status_code == 302
    assert SavedView.objects.get(pk=first.pk).name == "Renamed"


def test_viewer_may_not_delete_a_team_view_nor_see_anothers_private_one(as_viewer, operator):
    team = saved_views.saved_view_create(user=operator, name="Team", filters={}, team=True)
    theirs = saved_views.saved_view_create(user=operator, name="Theirs", filters={})
    page = as_viewer.get(reverse("saved_view_list")).content.decode()
    assert "Team" in page and "Theirs" not in page
    assert '<td class="small">operator</td>' in page  # who saved the team's view
    assert reverse("saved_view_delete", args=[team.pk]) not in page  # no button offered
    assert as_viewer.post(reverse("saved_view_delete", args=[team.pk])).status_code == 403
    assert as_viewer.post(reverse("saved_view_rename", args=[team.pk]), {f"v{team.pk}-name": "x"}).status_code == 403
    assert as_viewer.post(reverse("saved_view_delete", args=[theirs.pk])).status_code == 404
    assert SavedView.objects.count() == 2
    assert set(AuditEntry.objects.values_list("action", "outcome")) >= {
        ("saved_view_delete", "denied"),
        ("saved_view_rename", "denied"),
    }


def test_operator_deletes_a_team_view_with_an_audit_entry(as_operator, operator):
    team = saved_views.saved_view_create(user=operator, name="T", filters={}, team=True)
    response = as_operator.post(reverse("saved_view_delete", args=[team.pk]), **HX)
    assert response["HX-Redirect"] == reverse("saved_view_list")
    assert not SavedView.objects.exists()
    entry = AuditEntry.objects.get(action="saved_view_delete")
    assert (entry.outcome, entry.username) == ("ok", "operator")


def test_owner_deletes_a_private_view(as_viewer, viewer):
    view = saved_views.saved_view_create(user=viewer, name="Mine", filters={})
    assert as_viewer.post(reverse("saved_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()


def test_menu_lists_team_views_then_own_with_counts(as_viewer, viewer, operator):
    endpoint = make_endpoint()
    make_job(endpoint, status="PENDING")
    saved_views.saved_view_create(user=operator, name="Everything", filters={}, team=True)
    saved_views.saved_view_create(user=viewer, name="Done", filters={"status": "COMPLETED"})
    saved_views.saved_view_create(user=operator, name="Not mine", filters={})
    response = as_viewer.get(reverse("saved_views_menu_hx"), **HX)
    body = response.content.decode()
    assert body.index("Everything") < body.index("Yours") < body.index("Done")
    assert "Not mine" not in body
    assert 'title="1 active job">1</span>' in body and 'title="0 active jobs">0</span>' in body
    # A reload of the htmx-only URL gets the page the views are managed on.
    assert b"<h1>Saved views</h1>" in as_viewer.get(reverse("saved_views_menu_hx")).content


def test_pages_of_saved_views_need_a_login(client):
    response = client.get(reverse("saved_view_list"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post(SAVE, {"name": "x"}).status_code == 302
    assert not SavedView.objects.exists()


def test_saving_needs_the_csrf_token(viewer):
    strict = logged_in(viewer, enforce_csrf_checks=True)
    assert strict.post(SAVE, {"name": "x", "query": ""}).status_code == 403
    assert not SavedView.objects.exists()
