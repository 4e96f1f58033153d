"""Saved views (dashboard/saved_views.py): the normalised filter, names, roles, audit and the active counts."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import saved_views
from dashboard.models import SavedView
from jobs.models import AuditEntry
from tests.factories import make_endpoint, make_job, make_user


def test_filter_keeps_only_known_fields_that_the_form_accepts(viewer):
    """Unknown keys and refused values are dropped, and each refusal is named."""
    filters, errors = saved_views.filter_normalise(
        {"status": "FAILED", "endpoint": "abc", "evil": "<script>", "range": "1h", "q": "  hello  ", "after": "x"}
    )
    assert filters == {"status": "FAILED", "range": "1h", "q": "hello"}
    assert set(errors) == {"endpoint"}


def test_filter_drops_dates_that_a_preset_range_overrides(viewer):
    """A preset range wins over since/until on the page, so the dates are not part of the view."""
    filters, _ = saved_views.filter_normalise({"range": "24h", "since": "2026-01-01T10:00"})
    assert filters == {"range": "24h"}


def test_filter_dates_round_trip_as_the_page_sends_them(viewer):
    """A custom range is stored as the datetime-local text the page sends, so the page shows it again."""
    filters, _ = saved_views.filter_normalise({"range": "custom", "since": "2026-01-01T10:00", "until": "2026-01-02"})
    assert filters == {"range": "custom", "since": "2026-01-01T10:00", "until": "2026-01-02T00:00"}
    assert saved_views.filter_normalise(filters)[0] == filters


def test_filter_by_keeps_a_known_username_only(viewer):
    filters, _ = saved_views.filter_normalise({"by": "viewer"})
    assert filters == {"by": "viewer"}
    assert saved_views.filter_normalise({"by": "nobody"})[0] == {}


def test_viewer_saves_a_private_view_without_an_audit_entry(viewer):
    view = saved_views.saved_view_create(user=viewer, name="  My   failures ", filters={"status": "FAILED"})
    assert (view.name, view.owner, view.created_by, view.is_team) == ("My failures", viewer, viewer, False)
    assert not AuditEntry.objects.filter(action__startswith="saved_view").exists()


def test_viewer_cannot_save_a_team_view_and_the_attempt_is_audited(viewer):
    with pytest.raises(saved_views.SavedViewDenied):
        saved_views.saved_view_create(user=viewer, name="Team", filters={}, team=True)
    assert not SavedView.objects.exists()
    assert AuditEntry.objects.get(action="saved_view_create").outcome == "denied"


def test_operator_saves_a_team_view_and_it_is_audited(operator):
    view = saved_views.saved_view_create(user=operator, name="Queued", filters={"status": "IN_QUEUE"}, team=True)
    assert view.owner is None and view.is_team
    entry = AuditEntry.objects.get(action="saved_view_create")
    assert (entry.outcome, entry.username, entry.detail["view"]) == ("ok", "operator", view.pk)
    assert "status=IN_QUEUE" in entry.message


def test_names_are_unique_per_owner_and_per_team_whatever_the_case(viewer, operator):
    saved_views.saved_view_create(user=viewer, name="Failed", filters={})
    with pytest.raises(saved_views.SavedViewNameTaken):
        saved_views.saved_view_create(user=viewer, name="FAILED", filters={})
    # Another person's private view, and the team's, are other scopes.
    saved_views.saved_view_create(user=operator, name="failed", filters={})
    saved_views.saved_view_create(user=operator, name="Failed", filters={}, team=True)
    with pytest.raises(saved_views.SavedViewNameTaken):
        saved_views.saved_view_create(user=operator, name="failed ", filters={}, team=True)


def test_the_database_refuses_a_duplicate_name_too(viewer):
    """The constraint backs the check when two saves race."""
    SavedView.objects.create(name="Mine", owner=viewer, created_by=viewer)
    with pytest.raises(IntegrityError):
        SavedView.objects.create(name="mine", owner=viewer, created_by=viewer)


@pytest.mark.parametrize(
    ("name", "wording"), [("   ", "Give the view a name"), ("x" * 61, "60 characters"), ("a\x00b", "control")]
)
def test_bad_names_are_refused_with_a_reason(viewer, name, wording):
    with pytest.raises(saved_views.SavedViewError, match=wording) as caught:
        saved_views.saved_view_create(user=viewer, name=name, filters={})
    assert caught.value.field == "name"


def test_a_person_has_at_most_private_max_views(viewer, monkeypatch):
    monkeypatch.setattr(saved_views, "PRIVATE_MAX", 2)
    for name in ("a", "b"):
        saved_views.saved_view_create(user=viewer, name=name, filters={})
    with pytest.raises(saved_views.SavedViewError, match="2 saved views already"):
        saved_views.saved_view_create(user=viewer, name="c", filters={})


def test_owner_renames_and_deletes_a_private_view_unaudited(viewer):
    view = saved_views.saved_view_create(user=viewer, name="Old", filters={})
    saved_views.saved_view_rename(view=view, user=viewer, name="New")
    assert SavedView.objects.get().name == "New"
    saved_views.saved_view_delete(view=view, user=viewer)
    assert not SavedView.objects.exists()
    assert not AuditEntry.objects.exists()


def test_viewer_cannot_delete_a_team_view_and_an_operator_can_with_an_audit_entry(viewer, operator):
    view = saved_views.saved_view_create(user=operator, name="Team", filters={}, team=True)
    with pytest.raises(saved_views.SavedViewDenied):
        saved_views.saved_view_delete(view=view, user=viewer)
    assert SavedView.objects.filter(pk=view.pk).exists()
    other = make_user("Operators")
    saved_views.saved_view_delete(view=view, user=other)
    assert not SavedView.objects.exists()
    outcomes = dict(AuditEntry.objects.filter(action="saved_view_delete").values_list("username", "outcome"))
    assert outcomes == {"viewer": "denied", other.username: "ok"}


def test_someone_elses_private_view_is_invisible(viewer, operator):
    view = saved_views.saved_view_create(user=operator, name="Mine", filters={})
    assert saved_views.view_visible_or_none(viewer, view.pk) is None
    assert list(saved_views.views_visible(viewer)) == []


def test_team_views_come_first_then_own_by_name(viewer, operator):
    saved_views.saved_view_create(user=viewer, name="b mine", filters={})
    saved_views.saved_view_create(user=operator, name="Z team", filters={}, team=True)
    saved_views.saved_view_create(user=viewer, name="A mine", filters={})
    saved_views.saved_view_create(user=operator, name="theirs", filters={})
    assert [v.name for v in saved_views.views_visible(viewer)] == ["Z team", "A mine", "b mine"]


def test_active_counts_follow_each_views_filter_in_one_query(viewer, operator):
    """Every view counted at once; finished jobs never count, nor jobs outside the filter."""
    now = timezone.now()
    first, second = make_endpoint(), make_endpoint()
    make_job(first, status="IN_QUEUE", next_poll_at=now)
    make_job(first, status="IN_PROGRESS", next_poll_at=now, runpod_id="needle")
    make_job(first, status="PENDING", input={"prompt": "find the needle"}, submitted_by=viewer)
    make_job(second, status="IN_QUEUE", next_poll_at=now)
    make_job(first, status="COMPLETED")
    old = make_job(second, status="IN_QUEUE", next_poll_at=now)
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    make = saved_views.saved_view_create
    views = [
        make(user=viewer, name="all", filters={}),
        make(user=viewer, name="first", filters={"endpoint": str(first.pk)}),
        make(user=viewer, name="queued", filters={"status": "IN_QUEUE"}),
        make(user=viewer, name="done", filters={"status": "COMPLETED"}),
        make(user=viewer, name="needle", filters={"q": "needle"}),
        make(user=viewer, name="mine", filters={"by": "viewer"}),
        make(user=viewer, name="today", filters={"range": "24h"}),
    ]
    with CaptureQueriesContext(connection) as queries:
        counts = saved_views.views_active_counts(views)
    assert [counts[v.pk] for v in views] == [5, 3, 3, 0, 2, 1, 4]
    assert len(queries) == 2  # the users for "by", and one count for all views
    with CaptureQueriesContext(connection) as queries:
        assert saved_views.views_active_counts(views) == counts
    assert len(queries) == 0  # a few seconds in the cache


def test_a_view_is_active_when_the_page_filter_equals_it(viewer):
    view = saved_views.saved_view_create(user=viewer, name="v", filters={"status": "FAILED", "range": "1h"})
    current, _ = saved_views.filter_normalise({"range": "1h", "status": "FAILED", "after": "cursor"})
    assert saved_views.views_matching([view], current) == [view]
    assert saved_views.views_matching([view], {"status": "FAILED"}) == []
    assert saved_views.view_url(view) == "/jobs/?status=FAILED&range=1h"
