"""The job list: filters in the URL, id and input search, keyset pages, live rows, escaping, queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import selectors
from jobs.models import Job
from tests.factories import make_endpoint, make_job, make_user

from .conftest import HX

pytestmark = pytest.mark.django_db


def ids_in(response):
    return [job.pk for job in response.context["jobs"]]


def make_jobs(endpoint, count, *, start_minutes_ago=0, **fields):
    now = timezone.now()
    return [
        make_job(endpoint, created_at=now - timedelta(minutes=start_minutes_ago + i), **fields) for i in range(count)
    ]


def test_jobs_are_listed_newest_first(as_viewer):
    """The first page starts with the newest job."""
    endpoint = make_endpoint()
    jobs = make_jobs(endpoint, 3)
    response = as_viewer.get(reverse("job_list"))
    assert ids_in(response) == [job.pk for job in jobs]


def test_filters_by_endpoint_status_and_submitter(as_viewer):
    """Endpoint, status and who submitted narrow the list, and live in the URL."""
    a, b = make_endpoint(), make_endpoint()
    alice = make_user("Operators", username="alice")
    wanted = make_job(a, status="FAILED", submitted_by=alice)
    make_job(a, status="COMPLETED", submitted_by=alice)
    make_job(b, status="FAILED", submitted_by=alice)
    make_job(a, status="FAILED")
    response = as_viewer.get(reverse("job_list"), {"endpoint": a.pk, "status": "FAILED", "by": "alice"})
    assert ids_in(response) == [wanted.pk]


def test_active_status_lists_every_unfinished_job(as_viewer):
    """'Active' means still changing: due for a poll (unknown states included) or not sent yet."""
    endpoint = make_endpoint()
    queued = make_job(endpoint, status="IN_QUEUE", next_poll_at=timezone.now())
    odd = make_job(endpoint, status="WARMING_UP", next_poll_at=timezone.now())
    pending = make_job(endpoint, status="PENDING", runpod_id=None)
    make_job(endpoint, status="COMPLETED")
    make_job(endpoint, status="SUBMIT_FAILED")
    make_job(endpoint, status="IN_PROGRESS", expired=True)
    response = as_viewer.get(reverse("job_list"), {"status": "active"})
    assert set(ids_in(response)) == {queued.pk, odd.pk, pending.pk}


def test_time_range_filter_keeps_recent_jobs(as_viewer):
    """The last-hour range drops older jobs; a custom range takes both ends."""
    endpoint = make_endpoint()
    recent = make_job(endpoint, created_at=timezone.now() - timedelta(minutes=5))
    old = make_job(endpoint, created_at=timezone.now() - timedelta(hours=3))
    assert ids_in(as_viewer.get(reverse("job_list"), {"range": "1h"})) == [recent.pk]
    since = (timezone.now() - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = as_viewer.get(reverse("job_list"), {"range": "custom", "since": since, "until": until})
    assert ids_in(response) == [old.pk]


def test_bad_filter_values_are_ignored_not_refused(as_viewer):
    """A hand-edited URL with nonsense shows the unfiltered list instead of an error."""
    job = make_job()
    response = as_viewer.get(
        reverse("job_list"), {"endpoint": "x", "status": "NOPE", "since": "yesterday", "after": "garbage"}
    )
    assert response.status_code == 200
    assert ids_in(response) == [job.pk]
    huge = str(10**30)
    response = as_viewer.get(reverse("job_list"), {"endpoint": huge, "after": f"1.{huge}", "before": f"{huge}.1"})
    assert response.status_code == 200
    assert ids_in(response) == [job.pk]
    # ISO 8601 allows offsets PostgreSQL refuses (past ±15:59) and offsets that leave the calendar once applied.
    for until in ("2413-07-28T17:34:20+22:21", "0001-01-01T00:00:00+01:00"):
        response = as_viewer.get(reverse("job_list"), {"range": "custom", "until": until})
        assert response.status_code == 200
        assert ids_in(response) == [job.pk]


def test_search_by_job_id_is_an_exact_match(as_viewer):
    """A job id in the search box finds that job only."""
    endpoint = make_endpoint()
    job = make_job(endpoint, runpod_id="eaebd6e7-6a92-4bb8-a911-f996ac5ea99d")
    make_job(endpoint, runpod_id="eaebd6e7-6a92-4bb8-a911-f996ac5ea99d-u1")
    response = as_viewer.get(reverse("job_list"), {"q": job.runpod_id})
    assert ids_in(response) == [job.pk]
    assert response.context["page"].search == "id"


def test_search_finds_text_in_the_input(as_viewer):
    """Text that is not a job id is looked for in the inputs, case-insensitively."""
    endpoint = make_endpoint()
    hit = make_job(endpoint, input={"prompt": "A Lighthouse at dusk"})
    make_job(endpoint, input={"prompt": "a forest"})
    response = as_viewer.get(reverse("job_list"), {"q": "lighthouse"})
    assert ids_in(response) == [hit.pk]
    assert response.context["page"].search == "text"


def test_text_search_also_finds_words_in_outputs_and_errors(as_viewer):
    """A word that is only in a job's output, or only in its error, finds that job; the other columns do not leak."""
    endpoint = make_endpoint()
    in_output = make_job(endpoint, status="COMPLETED", input={"prompt": "x"}, output={"caption": "A Zebra crossing"})
    in_error = make_job(
        endpoint,
        status="FAILED",
        input={"prompt": "y"},
        error_raw='{"error_type": "RuntimeError", "error_message": "CUDA out of memory on the zebra node"}',
    )
    accented = make_job(endpoint, status="COMPLETED", input={"prompt": "z"}, output={"text": "un café noir"})
    make_job(endpoint, input={"prompt": "plain"}, webhook="https://example.com/zebra", submit_error="zebra")
    response = as_viewer.get(reverse("job_list"), {"q": "ZEBRA"})
    assert sorted(ids_in(response)) == sorted([in_output.pk, in_error.pk])
    assert ids_in(as_viewer.get(reverse("job_list"), {"q": "out of memory"})) == [in_error.pk]
    assert ids_in(as_viewer.get(reverse("job_list"), {"q": "café noir"})) == [accented.pk]
    assert "input, output or error contains" in response.content.decode()


def test_text_search_finds_accented_and_quoted_text(as_viewer):
    """Non-ASCII text and quotes are found whichever way the database keeps JSON."""
    endpoint = make_endpoint()
    accented = make_job(endpoint, input={"prompt": "Un café au lait"})
    quoted = make_job(endpoint, input={"prompt": 'say "hi"'})
    make_job(endpoint, input={"prompt": "plain"})
    assert ids_in(as_viewer.get(reverse("job_list"), {"q": "café"})) == [accented.pk]
    assert ids_in(as_viewer.get(reverse("job_list"), {"q": 'say "hi'})) == [quoted.pk]


def test_text_search_reads_a_bounded_number_of_jobs_and_offers_to_go_on(as_viewer, monkeypatch):
    """The search stops after TEXT_SEARCH_SCAN jobs and links to the older ones from there."""
    monkeypatch.setattr(selectors.jobs, "TEXT_SEARCH_SCAN", 5)
    endpoint = make_endpoint()
    make_jobs(endpoint, 5, input={"prompt": "nothing here"})
    old_hit = make_job(endpoint, input={"prompt": "needle"}, created_at=timezone.now() - timedelta(hours=2))
    first = as_viewer.get(reverse("job_list"), {"q": "needle"})
    assert ids_in(first) == []
    page = first.context["page"]
    assert page.scan_more and page.scanned_to
    assert "Search older jobs" in first.content.decode()
    second = as_viewer.get(reverse("job_list"), {"q": "needle", "after": page.scan_more})
    assert ids_in(second) == [old_hit.pk]


def test_keyset_pages_cover_every_job_once(as_viewer):
    """Following Older links visits each job exactly once, even with equal timestamps."""
    endpoint = make_endpoint()
    same_time = timezone.now() - timedelta(minutes=1)
    jobs = [make_job(endpoint, created_at=same_time) for _ in range(60)] + make_jobs(endpoint, 70, start_minutes_ago=2)
    seen, params = [], {}
    for _ in range(5):
        response = as_viewer.get(reverse("job_list"), params)
        seen += ids_in(response)
        older = response.context["page"].older
        if not older:
            break
        params = {"after": older}
    assert sorted(seen) == sorted(job.pk for job in jobs)
    assert len(seen) == len(set(seen))


def test_newer_link_goes_back_a_page(as_viewer):
    """From the second page, Newer returns exactly the first page."""
    endpoint = make_endpoint()
    make_jobs(endpoint, 120)
    first = as_viewer.get(reverse("job_list"))
    second = as_viewer.get(reverse("job_list"), {"after": first.context["page"].older})
    back = as_viewer.get(reverse("job_list"), {"before": second.context["page"].newer})
    assert ids_in(back) == ids_in(first)


def test_list_never_counts_the_whole_table(as_viewer):
    """Pages are read with LIMIT on an index, without COUNT(*) or OFFSET."""
    make_jobs(make_endpoint(), 60)
    with CaptureQueriesContext(connection) as queries:
        as_viewer.get(reverse("job_list"), {"status": "IN_QUEUE"})
    sql = " ".join(q["sql"].upper() for q in queries if "JOBS_JOB" in q["sql"].upper())
    assert "COUNT(" not in sql and "OFFSET" not in sql
    assert "LIMIT 51" in sql


def test_list_queries_do_not_grow_with_rows(as_viewer):
    """No N+1: a full page of jobs from many endpoints and users takes the same queries as two jobs."""
    make_job(make_endpoint(), submitted_by=make_user())
    make_job(make_endpoint(), submitted_by=make_user())
    with CaptureQueriesContext(connection) as few:
        as_viewer.get(reverse("job_list"))
    for _ in range(60):
        make_job(make_endpoint(), submitted_by=make_user())
    with CaptureQueriesContext(connection) as many:
        as_viewer.get(reverse("job_list"))
    assert len(many) == len(few)


def test_results_partial_for_htmx_filters(as_viewer):
    """Changing a filter through htmx returns only the results, ready to swap."""
    make_job()
    html = as_viewer.get(reverse("job_list"), {"status": "IN_QUEUE"}, **HX).content.decode()
    assert html.lstrip().startswith('<div id="results">') and "<html" not in html


def test_active_rows_are_refreshed_by_one_poller(as_viewer):
    """The page polls once for all its unfinished rows; finished rows are left alone."""
    endpoint = make_endpoint()
    running = make_job(endpoint, status="IN_PROGRESS")
    done = make_job(endpoint, status="COMPLETED")
    html = as_viewer.get(reverse("job_list")).content.decode()
    assert html.count('id="rows-poller"') == 1
    assert f"ids={running.pk}&amp;" in html and f"ids={done.pk}" not in html


def test_rows_partial_swaps_rows_out_of_band_and_stops_when_all_are_final(as_viewer):
    """A row that finished is sent once more; with nothing active and no newest cursor, polling stops."""
    job = make_job(status="IN_PROGRESS")
    Job.objects.filter(pk=job.pk).update(status="COMPLETED")
    response = as_viewer.get(reverse("job_rows_hx"), {"ids": str(job.pk)}, **HX)
    html = " ".join(response.content.decode().split())
    assert re.search(rf'<template> ?<tr id="job-{job.pk}" class="st-completed" hx-swap-oob="true">', html)
    assert "Completed" in html
    assert 'id="rows-poller" hidden></div>' in html


def test_rows_partial_counts_newer_jobs_on_the_first_page(as_viewer):
    """Jobs created after the first row show as a 'newer jobs' notice."""
    endpoint = make_endpoint()
    top = make_job(endpoint, created_at=timezone.now() - timedelta(minutes=5))
    make_jobs(endpoint, 2)
    cursor = selectors.Cursor(top.created_at, top.pk).encode()
    html = as_viewer.get(reverse("job_rows_hx"), {"ids": "", "top": cursor}, **HX).content.decode()
    assert "2 newer jobs" in html


def test_rows_partial_without_htmx_is_the_list_page(as_viewer):
    """Opening the refresher's URL directly shows the jobs page with the same filters."""
    job = make_job(status="FAILED")
    response = as_viewer.get(reverse("job_rows_hx"), {"ids": str(job.pk), "status": "FAILED"})
    assert response.status_code == 200
    assert "<html" in response.content.decode() and [j.pk for j in response.context["jobs"]] == [job.pk]


def test_newer_count_respects_the_filters(as_viewer):
    """Only newer jobs that match the page's filters are counted."""
    mine, other = make_endpoint(), make_endpoint()
    top = make_job(mine, created_at=timezone.now() - timedelta(minutes=5))
    make_jobs(mine, 1)
    make_jobs(other, 3)
    cursor = selectors.Cursor(top.created_at, top.pk).encode()
    params = {"ids": "", "top": cursor, "endpoint": mine.pk}
    html = as_viewer.get(reverse("job_rows_hx"), params, **HX).content.decode()
    assert "1 newer job " in html


def test_input_preview_and_ids_are_escaped(as_viewer):
    """Input text and job ids from RunPod are shown as text, never as markup."""
    make_job(runpod_id="<b>id</b>", input={"prompt": "<script>alert(1)</script>"})
    html = as_viewer.get(reverse("job_list")).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<b>id</b>" not in html


def test_unknown_status_is_shown_neutrally(as_viewer):
    """A state RunPod invents later appears as itself with the neutral style."""
    make_job(status="WARMING_UP")
    html = as_viewer.get(reverse("job_list")).content.decode()
    assert 'class="badge st-unknown live"' not in html
    assert 'class="badge st-unknown" data-status="WARMING_UP"' in html and "WARMING_UP</span>" in html
