"""The overview's live refresh (304 when nothing changed, only changed cards otherwise) and charts drawn once per
snapshot, kept in the cache."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Endpoint, HealthSnapshot
from tests.factories import make_endpoint, make_job

from .conftest import HX

pytestmark = pytest.mark.django_db


def snapshot(endpoint, *, seconds_ago=5, **fields):
    return HealthSnapshot.objects.create(
        endpoint=endpoint, taken_at=timezone.now() - timedelta(seconds=seconds_ago), **fields
    )


@pytest.fixture
def three(db):
    endpoints = [make_endpoint(name=f"ep-{n}") for n in range(3)]
    for endpoint in endpoints:
        snapshot(endpoint, seconds_ago=30, jobs_in_queue=1)
        snapshot(endpoint, jobs_in_queue=2, workers_running=1)
    return endpoints


def refresh(client, etag=None, **params):
    headers = {**HX, **({"HTTP_IF_NONE_MATCH": etag} if etag else {})}
    return client.get(reverse("overview_hx"), params, **headers)


def test_a_refresh_when_nothing_changed_is_an_empty_304(as_viewer, three):
    """The page's ETag comes back as 304 with no body and no card rendered."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    response = refresh(as_viewer, etag)
    assert response.status_code == 304
    assert response.content == b"" and response["ETag"] == etag
    assert "no-store" in response["Cache-Control"]  # private too (ResponseHeadersMiddleware)


def test_the_page_carries_its_etag_for_the_next_refresh(as_viewer, three):
    """The polling element holds the ETag the page was built from."""
    response = as_viewer.get(reverse("overview"))
    assert f'data-etag="&quot;{response["ETag"].strip(chr(34))}&quot;"' in response.content.decode()


def test_an_unchanged_refresh_reads_no_jobs_and_draws_nothing(as_viewer, three):
    """The 304 costs the cheap queries only: none reads the last hour's jobs or the chart series."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    with CaptureQueriesContext(connection) as queries:
        assert refresh(as_viewer, etag).status_code == 304
    sql = " ".join(q["sql"] for q in queries)
    assert "percentile" not in sql.lower() and "GROUP BY" not in sql and len(queries) <= 6


def test_a_new_snapshot_sends_only_that_card_and_the_totals(as_viewer, three):
    """One endpoint's new snapshot comes back as its card alone, swapped out of band, with the totals."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    snapshot(three[1], seconds_ago=1, jobs_in_queue=40)
    response = refresh(as_viewer, etag)
    html = response.content.decode()
    assert response.status_code == 200 and response["ETag"] != etag
    assert re.search(rf'<article id="card-{three[1].pk}" [^>]*hx-swap-oob="outerHTML">', html)
    assert f"card-{three[0].pk}" not in html and f"card-{three[2].pk}" not in html
    assert re.search(r'<section id="overview-totals" [^>]*hx-swap-oob="outerHTML">', html) and ">44<" in html
    assert refresh(as_viewer, response["ETag"]).status_code == 304


def test_in_the_table_view_a_change_sends_only_that_row(as_viewer, three):
    """Rows travel in a <template> so the browser keeps them as table rows."""
    etag = as_viewer.get(reverse("overview"), {"view": "table"})["ETag"]
    snapshot(three[2], seconds_ago=1, jobs_in_queue=7)
    html = refresh(as_viewer, etag, view="table").content.decode()
    assert re.search(rf'<template><tr id="row-{three[2].pk}" [^>]*hx-swap-oob="outerHTML">', html)
    assert f"row-{three[0].pk}" not in html


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: make_job(e, status="COMPLETED", finished_at=timezone.now()), id="a job finished"),
        pytest.param(lambda e: Endpoint.objects.filter(pk=e.pk).update(auth_failed_at=timezone.now()), id="key"),
        pytest.param(lambda e: Endpoint.objects.filter(pk=e.pk).update(name="renamed"), id="renamed"),
        pytest.param(lambda e: make_endpoint(name="ep-new"), id="new endpoint"),
        pytest.param(
            lambda e: make_job(e, status="IN_PROGRESS", next_poll_at=timezone.now() - timedelta(minutes=2)),
            id="polling behind",
        ),
    ],
)
def test_anything_a_card_shows_changing_ends_the_304s(as_viewer, three, change):
    """A finished job, a refused key, a new name, a new endpoint or polling falling behind is news."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    change(three[0])
    response = refresh(as_viewer, etag)
    assert response.status_code == 200 and response.content


def test_a_stale_snapshot_ends_the_304s(as_viewer, three):
    """A snapshot turning stale (the worker stopped) changes the card though no row changed."""
    HealthSnapshot.objects.filter(endpoint=three[0]).update(taken_at=timezone.now() - timedelta(seconds=30))
    etag = as_viewer.get(reverse("overview"))["ETag"]
    HealthSnapshot.objects.filter(endpoint=three[0]).update(taken_at=timezone.now() - timedelta(seconds=61))
    assert refresh(as_viewer, etag).status_code == 200


def test_a_page_the_server_no_longer_remembers_gets_the_whole_body(as_viewer, three):
    """An ETag the cache has forgotten (or none) gets every card, swapped in as one body."""
    html = refresh(as_viewer, '"forgotten"').content.decode()
    assert html.lstrip().startswith('<div id="overview-body" hx-swap-oob="outerHTML"')
    assert html.count('class="card endpoint-card') == 3


def test_a_change_of_order_sends_the_whole_body(as_viewer, three):
    """When a card moves (here a refused key jumps to the top) the body is sent again, in the new order."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    Endpoint.objects.filter(pk=three[2].pk).update(auth_failed_at=timezone.now())
    html = refresh(as_viewer, etag).content.decode()
    assert 'id="overview-body" hx-swap-oob' in html
    assert html.index(f"card-{three[2].pk}") < html.index(f"card-{three[0].pk}")


def test_the_etag_is_per_person_and_per_choice(as_viewer, as_operator, three):
    """Another user's or another view's ETag never earns a 304."""
    etag = as_viewer.get(reverse("overview"))["ETag"]
    assert refresh(as_operator, etag).status_code == 200
    assert refresh(as_viewer, etag, view="table").status_code == 200


def test_a_chart_is_drawn_once_per_snapshot(as_viewer, three):
    """The second request reads every chart from the cache; a new snapshot redraws only its endpoint's chart."""

    def series_queries():
        with CaptureQueriesContext(connection) as queries:
            as_viewer.get(reverse("overview"))
        return [q["sql"] for q in queries if "jobs_healthsnapshot" in q["sql"] and "GROUP BY" in q["sql"]]

    assert len(series_queries()) == 1
    assert series_queries() == []
    snapshot(three[0], seconds_ago=1, jobs_in_queue=5)
    redraw = series_queries()
    assert len(redraw) == 1 and redraw[0].count("%s") <= 1 and f"IN ({three[0].pk})" in redraw[0]


def test_a_cached_chart_is_the_same_as_a_fresh_one(as_viewer, three):
    """Reading charts from the cache shows exactly what drawing them shows."""
    first = as_viewer.get(reverse("overview")).content.decode()
    second = as_viewer.get(reverse("overview")).content.decode()
    start = first.index('<svg class="chart-svg')
    chart = first[start : first.index("</svg>", start)]
    assert chart in second and 'class="line c-queue"' in chart


@pytest.mark.parametrize("window", ["15m", "1h"])
def test_endpoint_charts_of_short_windows_are_redrawn_at_a_new_snapshot(as_viewer, window):
    """A short window's charts come from the cache until a snapshot arrives, and then show it."""
    endpoint = make_endpoint()
    snapshot(endpoint, jobs_in_queue=3)
    url = reverse("endpoint_detail", args=[endpoint.pk])
    assert "In queue <b>3</b>" in as_viewer.get(url, {"window": window}).content.decode()
    snapshot(endpoint, seconds_ago=1, jobs_in_queue=11)
    assert "In queue <b>11</b>" in as_viewer.get(url, {"window": window}).content.decode()


def test_endpoint_charts_show_a_newly_finished_job(as_viewer):
    """A job finishing is drawn in the throughput chart at the next request, not minutes later."""
    endpoint = make_endpoint()
    url = reverse("endpoint_detail", args=[endpoint.pk])
    assert "Completed <b>0</b>" in as_viewer.get(url, {"window": "15m"}).content.decode()
    make_job(endpoint, status="COMPLETED", finished_at=timezone.now() - timedelta(seconds=2))
    assert "Completed <b>1</b>" in as_viewer.get(url, {"window": "15m"}).content.decode()
