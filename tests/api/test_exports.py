"""CSV and NDJSON exports of a filtered jobs list: streamed, every row once, formulas neutralised."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api import exports
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


def read(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_csv_round_trips_every_row_through_pythons_csv_module(token_viewer, monkeypatch):
    """Across several batches, each job appears once, newest first, with awkward text intact."""
    monkeypatch.setattr(exports, "BATCH", 4)
    endpoint = make_endpoint(name='ep, "quoted"\nnewline')
    at = timezone.now()
    jobs = [
        make_job(endpoint=endpoint, created_at=at - timedelta(seconds=n // 2), input={"p": f'é,"{n}"\n'})
        for n in range(11)
    ]
    response = token_viewer.get("/api/v1/jobs/export", {"format": "csv", "endpoint": endpoint.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(read(response))))
    expected = sorted(jobs, key=lambda j: (j.created_at, j.pk), reverse=True)
    assert [int(r["id"]) for r in rows] == [j.pk for j in expected]
    assert {r["endpoint"] for r in rows} == {endpoint.name}
    assert rows[0]["created_at"] == expected[0].created_at.isoformat()
    assert list(rows[0]) == [name for name, _ in exports.COLUMNS]


def test_ndjson_has_one_json_object_per_job(token_viewer):
    """Each line parses as JSON with the documented columns."""
    job = make_job(status="COMPLETED", delay_ms=12)
    response = token_viewer.get("/api/v1/jobs/export", {"format": "ndjson"})
    lines = [json.loads(line) for line in read(response).splitlines()]
    assert [line["id"] for line in lines] == [job.pk]
    assert lines[0]["delay_ms"] == 12 and lines[0]["streaming"] is False
    assert response["Content-Type"] == "application/x-ndjson"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_csv_neutralises_formula_injection(token_viewer, text):
    """A cell a spreadsheet would run as a formula starts with a quote instead; NDJSON keeps the exact value."""
    make_job(endpoint=make_endpoint(name=text), runpod_id=text)
    rows = list(csv.DictReader(io.StringIO(read(token_viewer.get("/api/v1/jobs/export")))))
    assert rows[0]["endpoint"] == "'" + text and rows[0]["runpod_id"] == "'" + text
    line = json.loads(read(token_viewer.get("/api/v1/jobs/export", {"format": "ndjson"})))
    assert line["endpoint"] == text


def test_exports_honour_the_jobs_page_filters(token_viewer):
    """Status and text filters apply to exports as to the list."""
    make_job(status="COMPLETED", input={"prompt": "cat"})
    wanted = make_job(status="FAILED", input={"prompt": "cat"})
    make_job(status="FAILED", input={"prompt": "dog"})
    body = read(token_viewer.get("/api/v1/jobs/export", {"format": "ndjson", "status": "FAILED", "q": "cat"}))
    assert [json.loads(line)["id"] for line in body.splitlines()] == [wanted.pk]


def test_a_bad_format_is_422(token_viewer):
    """Only csv and ndjson are offered."""
    assert token_viewer.get("/api/v1/jobs/export", {"format": "xlsx"}).status_code == 422


def test_the_jobs_page_export_links_carry_its_filters(as_viewer):
    """The page's CSV and NDJSON links repeat the page's filters, and following one exports exactly its rows."""
    recent = make_job(status="FAILED")
    make_job(status="FAILED", created_at=timezone.now() - timedelta(days=3))
    make_job(status="COMPLETED")
    html = as_viewer.get("/jobs/", {"status": "FAILED", "range": "24h"}).content.decode()
    links = [
        href.replace("&amp;", "&") for href in __import__("re").findall(r'href="(/api/v1/jobs/export[^"]+)"', html)
    ]
    assert len(links) == 2 and all("status=FAILED" in link and "range=24h" in link for link in links)
    ndjson = next(link for link in links if "format=ndjson" in link)
    assert [json.loads(line)["id"] for line in read(as_viewer.get(ndjson)).splitlines()] == [recent.pk]
