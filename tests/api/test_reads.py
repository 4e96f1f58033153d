"""Reads: endpoints with health and counts, jobs with the page's filters and keyset cursors, one job with its
transitions and chunks, the audit trail and health series; for every role, and refused without a token."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import HealthSnapshot, StatusTransition, StreamChunk
from tests.factories import make_endpoint, make_job, make_user

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.mark.parametrize(
    "path",
    [
        "/endpoints",
        "/endpoints/1",
        "/endpoints/1/health",
        "/jobs",
        "/jobs/1",
        "/jobs/1/chunks",
        "/audit",
        "/jobs/export",
    ],
)
def test_every_read_refuses_a_missing_or_wrong_token(client, path, operator):
    """No token, a wrong token, or a session-less client gets 401 JSON with a code and a sentence."""
    from tests.api.conftest import token_client

    good = token_client(operator)
    for headers in ({}, {"Authorization": "Bearer rpd_nope"}, {"Authorization": good.raw_token}):
        response = client.get(API + path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.json()["code"] == "unauthenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["token_viewer", "token_operator", "token_admin", "as_viewer"])
def test_every_role_and_a_session_can_read(request, role):
    """Viewers, operators, admins (by token) and a logged-in browser session all read."""
    client = request.getfixturevalue(role)
    job = make_job()
    for path in (
        "/endpoints",
        f"/endpoints/{job.endpoint_id}",
        f"/endpoints/{job.endpoint_id}/health",
        "/jobs",
        f"/jobs/{job.pk}",
        f"/jobs/{job.pk}/chunks",
        "/audit",
    ):
        assert client.get(API + path).status_code == 200, path


def test_endpoints_show_newest_health_and_last_hour(token_viewer):
    """An endpoint carries its newest snapshot's queue and workers and the last hour's finished counts."""
    endpoint = make_endpoint(name="sdxl")
    now = timezone.now()
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now - timedelta(seconds=30), jobs_in_queue=3)
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now, jobs_in_queue=7, workers_running=2)
    make_job(endpoint=endpoint, status="COMPLETED", finished_at=now - timedelta(minutes=5), delay_ms=100)
    make_job(endpoint=endpoint, status="FAILED", finished_at=now - timedelta(minutes=5))
    make_job(endpoint=endpoint, status="COMPLETED", finished_at=now - timedelta(hours=2))
    body = token_viewer.get(f"{API}/endpoints").json()
    (item,) = [e for e in body if e["name"] == "sdxl"]
    assert item["health"]["jobs_in_queue"] == 7 and item["health"]["workers_running"] == 2
    assert (item["last_hour"]["completed"], item["last_hour"]["failed"]) == (1, 1)
    assert "api_key" not in item and "test-key" not in str(body)


def test_unknown_endpoint_and_job_are_404_json(token_viewer):
    """Ids that do not exist answer 404 with code not_found."""
    for path in ("/endpoints/999999", "/endpoints/999999/health", "/jobs/999999", "/jobs/999999/chunks"):
        response = token_viewer.get(API + path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path


def test_job_list_pages_with_stable_keyset_cursors(token_viewer):
    """Walking next_cursor returns every job once, newest first, even with equal creation times."""
    endpoint = make_endpoint()
    at = timezone.now()
    jobs = [make_job(endpoint=endpoint, created_at=at - timedelta(seconds=n // 3)) for n in range(25)]
    seen, cursor = [], ""
    while True:
        body = token_viewer.get(f"{API}/jobs", {"limit": 7, "cursor": cursor, "endpoint": endpoint.pk}).json()
        seen += [row["id"] for row in body["jobs"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    expected = [j.pk for j in sorted(jobs, key=lambda j: (j.created_at, j.pk), reverse=True)]
    assert seen == expected


def test_job_list_filters_as_the_jobs_page_does(token_viewer, operator):
    """endpoint, status (and active), since/until, by (username) and q (an exact id, or text) all filter."""
    a, b = make_endpoint(), make_endpoint()
    now = timezone.now()
    old = make_job(endpoint=a, status="COMPLETED", created_at=now - timedelta(days=2), input={"prompt": "old cat"})
    mine = make_job(endpoint=a, status="IN_QUEUE", submitted_by=operator, next_poll_at=now, input={"prompt": "a dog"})
    other = make_job(endpoint=b, status="FAILED", input={"prompt": "cat on a mat"})

    def ids(**params):
        response = token_viewer.get(f"{API}/jobs", params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["jobs"]}

    assert ids(endpoint=a.pk) == {old.pk, mine.pk}
    assert ids(status="FAILED") == {other.pk}
    assert ids(status="active") == {mine.pk}
    assert ids(since=(now - timedelta(days=1)).isoformat()) == {mine.pk, other.pk}
    assert ids(until=(now - timedelta(days=1)).isoformat()) == {old.pk}
    assert ids(by="operator") == {mine.pk}
    assert ids(by="nobody-by-that-name") == set()
    assert ids(q=other.runpod_id) == {other.pk}
    assert ids(q="cat") == {old.pk, other.pk}


def test_bad_filters_and_cursors_are_422_with_the_field(token_viewer):
    """A malformed cursor, date, limit or endpoint id answers 422 naming the field, never 500."""
    for params, field in (
        ({"cursor": "nonsense"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"endpoint": "x"}, "endpoint"),
    ):
        response = token_viewer.get(f"{API}/jobs", params)
        assert response.status_code == 422, params
        assert response.json()["code"] == "invalid" and response.json()["field"] == field


def test_one_job_has_input_output_error_and_transitions(token_viewer):
    """A job's detail holds what its page shows, transitions in order, and never the s3 config."""
    job = make_job(status="FAILED", input={"p": 1}, output={"o": 2}, error={"message": "boom"}, s3_config='{"k":"s"}')
    at = timezone.now()
    StatusTransition.objects.create(job=job, from_status="IN_QUEUE", to_status="IN_PROGRESS", at=at, source="poll")
    StatusTransition.objects.create(job=job, from_status="IN_PROGRESS", to_status="FAILED", at=at, source="poll")
    body = token_viewer.get(f"{API}/jobs/{job.pk}").json()
    assert (body["input"], body["output"], body["error"]) == ({"p": 1}, {"o": 2}, {"message": "boom"})
    assert [t["to_status"] for t in body["transitions"]] == ["IN_PROGRESS", "FAILED"]
    assert "s3" not in str(body).lower()


def test_stream_chunks_are_paged_in_order(token_viewer):
    """Chunks come after ?after=, limit at a time, with next_after to go on from."""
    job = make_job(streaming=True, stream_seq=5)
    for seq in range(5):
        StreamChunk.objects.create(job=job, seq=seq, output={"n": seq})
    first = token_viewer.get(f"{API}/jobs/{job.pk}/chunks", {"limit": 3}).json()
    assert [c["output"]["n"] for c in first["chunks"]] == [0, 1, 2] and first["next_after"] == 2
    rest = token_viewer.get(f"{API}/jobs/{job.pk}/chunks", {"after": 2}).json()
    assert [c["seq"] for c in rest["chunks"]] == [3, 4]
    assert token_viewer.get(f"{API}/jobs/{job.pk}/chunks", {"after": -5}).status_code == 422


def test_audit_lists_entries_with_filters_and_cursor(token_viewer):
    """The audit trail filters by action and outcome and pages with next_cursor."""
    from jobs import services

    user = make_user("Operators", username="ann")
    for n in range(3):
        services.audit_record(action="cancel", user=user, message=f"m{n}")
    services.audit_record(action="purge", user=user, outcome="error", message="x")
    body = token_viewer.get(f"{API}/audit", {"action": "cancel", "limit": 2}).json()
    assert [e["message"] for e in body["entries"]] == ["m2", "m1"] and body["next_cursor"]
    more = token_viewer.get(f"{API}/audit", {"action": "cancel", "cursor": body["next_cursor"]}).json()
    assert [e["message"] for e in more["entries"]] == ["m0"] and more["next_cursor"] is None
    errors = token_viewer.get(f"{API}/audit", {"outcome": "error"}).json()["entries"]
    assert [e["action"] for e in errors] == ["purge"] and errors[0]["username"] == "ann"


def test_health_series_buckets_snapshots_over_a_window(token_viewer):
    """The health series has the window's buckets, with the largest queue of each bucket."""
    endpoint = make_endpoint()
    now = timezone.now()
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now - timedelta(minutes=3), jobs_in_queue=4)
    HealthSnapshot.objects.create(endpoint=endpoint, taken_at=now - timedelta(minutes=3, seconds=5), jobs_in_queue=9)
    body = token_viewer.get(f"{API}/endpoints/{endpoint.pk}/health", {"window": "15m", "points": 15}).json()
    assert body["bucket_seconds"] == 60
    assert max(b["values"]["jobs_in_queue"] for b in body["buckets"] if b["values"]) == 9
    assert token_viewer.get(f"{API}/endpoints/{endpoint.pk}/health", {"window": "2y"}).status_code == 422
    assert token_viewer.get(f"{API}/endpoints/{endpoint.pk}/health", {"points": 0}).status_code == 422


@pytest.mark.parametrize(
    "until, status",
    [
        # PostgreSQL refuses offsets past ±15:59, which ISO 8601 allows: the offset is applied before the query.
        ("0413-07-28T17:34:20+22:21", 200),
        # Applying the offset leaves the calendar: the caller's error, named.
        ("0001-01-01T00:00:00+01:00", 422),
    ],
)
def test_a_date_filter_with_any_offset_is_answered_not_a_500(token_operator, until, status):
    """Found by Schemathesis in CI: an offset PostgreSQL cannot store gave a 500 on the list and the bulk dry run."""
    make_job(status="FAILED")
    listed = token_operator.get("/api/v1/jobs", {"until": until})
    assert listed.status_code == status
    preview = token_operator.post(
        "/api/v1/bulk-actions/preview",
        {"kind": "stop_tracking", "filters": {"until": until}},
        content_type="application/json",
    )
    assert preview.status_code == status
    if status == 422:
        assert listed.json()["field"] == "until"
