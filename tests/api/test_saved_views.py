"""Saved views through the API (api/routes/views.py): the pages' roles, validation and audit, and active counts."""

import json

import pytest
from django.utils import timezone

from dashboard import saved_views
from dashboard.models import SavedView
from jobs.models import AuditEntry
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db
API = "/api/v1"


def send(client, method, path, payload=None):
    return getattr(client, method)(API + path, json.dumps(payload or {}), content_type="application/json")


def test_operator_saves_a_team_view_with_its_active_count(token_operator):
    endpoint = make_endpoint()
    make_job(endpoint, status="IN_QUEUE", next_poll_at=timezone.now())
    make_job(endpoint, status="FAILED")
    payload = {"name": "Queue", "team": True, "filters": {"endpoint": endpoint.pk, "status": "active", "q": ""}}
    response = send(token_operator, "post", "/views", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["team"] is True and body["active_count"] == 1
    assert body["filters"] == {"endpoint": str(endpoint.pk), "status": "active"}
    assert body["url"] == f"/jobs/?endpoint={endpoint.pk}&status=active"
    assert AuditEntry.objects.get(action="saved_view_create").username == "operator"


def test_viewer_token_saves_private_views_only(token_viewer):
    assert send(token_viewer, "post", "/views", {"name": "Mine", "filters": {"status": "FAILED"}}).status_code == 201
    refused = send(token_viewer, "post", "/views", {"name": "Team", "team": True})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Mine"]
    assert AuditEntry.objects.get(action="saved_view_create").outcome == "denied"


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"colour": "red"}, "filters.colour"),
        ({"status": "SLEEPING"}, "filters.status"),
        ({"endpoint": "abc"}, "filters.endpoint"),
        ({"since": "yesterday"}, "filters.since"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(token_viewer, filters, field):
    response = send(token_viewer, "post", "/views", {"name": "x", "filters": filters})
    assert response.status_code == 422 and response.json()["field"] == field
    assert not SavedView.objects.exists()


def test_a_taken_name_is_a_409_and_a_bad_one_a_422(token_viewer, viewer):
    saved_views.saved_view_create(user=viewer, name="Mine", filters={})
    taken = send(token_viewer, "post", "/views", {"name": "MINE"})
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    assert send(token_viewer, "post", "/views", {"name": " "}).status_code == 422


def test_list_shows_the_teams_views_and_the_callers_own_with_counts(token_viewer, viewer, operator):
    make_job(make_endpoint(), status="PENDING")
    saved_views.saved_view_create(user=operator, name="Team", filters={}, team=True)
    saved_views.saved_view_create(user=viewer, name="Done", filters={"status": "COMPLETED"})
    saved_views.saved_view_create(user=operator, name="Theirs", filters={})
    response = token_viewer.get(API + "/views")
    assert response.status_code == 200
    rows = [(v["name"], v["team"], v["active_count"], v["created_by"]) for v in response.json()]
    assert rows == [("Team", True, 1, "operator"), ("Done", False, 0, "viewer")]


def test_delete_follows_the_roles(token_viewer, token_operator, viewer, operator):
    team = saved_views.saved_view_create(user=operator, name="Team", filters={}, team=True)
    theirs = saved_views.saved_view_create(user=operator, name="Theirs", filters={})
    mine = saved_views.saved_view_create(user=viewer, name="Mine", filters={})
    assert send(token_viewer, "delete", f"/views/{team.pk}").status_code == 403
    assert send(token_viewer, "delete", f"/views/{theirs.pk}").status_code == 404
    assert send(token_viewer, "delete", f"/views/{mine.pk}").status_code == 204
    assert send(token_operator, "delete", f"/views/{team.pk}").status_code == 204
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Theirs"]
    outcomes = sorted(AuditEntry.objects.filter(action="saved_view_delete").values_list("username", "outcome"))
    assert outcomes == [("operator", "ok"), ("viewer", "denied")]


def test_rename_follows_the_roles(token_viewer, token_operator, viewer, operator):
    team = saved_views.saved_view_create(user=operator, name="Team", filters={}, team=True)
    mine = saved_views.saved_view_create(user=viewer, name="Mine", filters={})
    assert send(token_viewer, "patch", f"/views/{team.pk}", {"name": "x"}).status_code == 403
    renamed = send(token_viewer, "patch", f"/views/{mine.pk}", {"name": "Still mine"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Still mine"
    assert send(token_operator, "patch", f"/views/{team.pk}", {"name": "Team 2"}).json()["name"] == "Team 2"
    assert AuditEntry.objects.get(action="saved_view_rename", outcome="ok").message.endswith("“Team 2”")


def test_saved_views_need_a_token(client):
    assert client.get(API + "/views").status_code == 401
