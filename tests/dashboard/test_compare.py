"""The compare page: two jobs' status, timings, input and output diff; picked from the list or a job's page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import StreamChunk
from tests.factories import make_endpoint, make_job

pytestmark = pytest.mark.django_db


def compare(client, *refs):
    query = "&".join(f"job={ref}" for ref in refs)
    return client.get(reverse("job_compare") + (f"?{query}" if query else ""))


def finished(created_ago, **fields):
    now = timezone.now()
    defaults = {"status": "COMPLETED", "has_output": True, "finished_at": now, "next_poll_at": None}
    return make_job(created_at=now - timedelta(seconds=created_ago), **{**defaults, **fields})


def test_viewers_compare_status_timings_input_and_output(as_viewer):
    """Older on the left; the input and output diffs list each change with its path and both values."""
    older = finished(
        60,
        input={"prompt": "cat", "steps": 20},
        output={"text": "a cat", "tokens": [1, 2]},
        delay_ms=1_000,
        execution_ms=4_000,
    )
    newer = finished(
        10,
        input={"prompt": "dog", "steps": 20, "seed": 7},
        output={"text": "a dog", "tokens": [1]},
        status="FAILED",
        error={"error_message": "GPU fell over"},
        delay_ms=500,
        execution_ms=6_000,
    )
    response = compare(as_viewer, newer.pk, older.pk)  # given newest first, shown oldest first
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(f"#{older.pk}</span>") < html.index(f"#{newer.pk}</span>")
    assert "GPU fell over" in html
    assert "+2.0 s" in html and "\u2212500 ms" in html and "+1.5 s" in html  # execution, queue, total
    for row in (
        '<td class="mono">prompt</td><td>changed</td>',
        '<td class="mono">seed</td><td>added</td>',
        '<td class="mono">text</td><td>changed</td>',
        '<td class="mono">tokens[1]</td><td>removed</td>',
    ):
        assert row in html
    assert '1 changed</span> · <span class="diff-added">1 added' in html


def test_values_in_the_diff_are_escaped(as_viewer):
    """Markup in an input or output is shown as text, never rendered."""
    older = finished(60, input={"p": "<script>alert(1)</script>"}, output=None, has_output=False)
    newer = finished(10, input={"p": "<img src=x onerror=alert(1)>"}, output=None, has_output=False)
    html = compare(as_viewer, older.pk, newer.pk).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_identical_inputs_say_so_and_missing_output_is_explained(as_viewer):
    """Same input: 'identical'; a job still running has no output to compare yet, which the page says."""
    older = finished(60, input={"p": 1}, output={"o": 1})
    newer = make_job(input={"p": 1}, status="IN_PROGRESS", endpoint=older.endpoint)
    html = compare(as_viewer, older.pk, newer.pk).content.decode()
    assert "Both jobs have the same input." in html
    assert "None yet: the job is IN_PROGRESS." in html


def test_a_streamed_output_is_compared_as_its_chunks(as_viewer):
    """A streaming job's output is its chunks, compared index by index."""
    endpoint = make_endpoint()
    jobs = []
    for n, texts in enumerate((["a", "b"], ["a", "c", "d"])):
        job = finished(60 - n, endpoint=endpoint, streaming=True, has_output=False, stream_seq=len(texts))
        StreamChunk.objects.bulk_create(StreamChunk(job=job, seq=i, output=t) for i, t in enumerate(texts))
        jobs.append(job)
    html = compare(as_viewer, *(job.pk for job in jobs)).content.decode()
    assert "its 2 stream chunks" in html
    assert '<td class="mono">[1]</td><td>changed</td>' in html and '<td class="mono">[2]</td><td>added</td>' in html


def test_a_large_output_is_bounded(as_viewer):
    """Thousands of differences: the table stops at its limit and says so."""
    older = finished(60, input={}, output={"xs": list(range(5_000))})
    newer = finished(10, input={}, output={"xs": list(range(1, 5_001))}, endpoint=older.endpoint)
    html = compare(as_viewer, older.pk, newer.pk).content.decode()
    assert html.count('<tr class="diff-changed">') == 300
    assert "The comparison stopped early" in html


def test_jobs_can_be_named_by_runpod_id(as_viewer):
    """A job page's compare box takes a RunPod id as well as a job number."""
    older = finished(60, runpod_id="rp-older")
    newer = finished(10, endpoint=older.endpoint)
    assert compare(as_viewer, newer.pk, "rp-older").status_code == 200


@pytest.mark.parametrize(
    ("refs", "status", "message"),
    [
        (("",), 400, "Pick exactly two jobs to compare (you gave 0)."),
        (("{a}",), 400, "Pick exactly two jobs to compare (you gave 1)."),
        (("{a}", "{b}", "{a}"), 400, "you gave 3"),
        (("{a}", "{a}"), 400, "Those are the same job twice"),
        (("{a}", "99999999"), 404, "No job is numbered or has the RunPod id “99999999”."),
        (("{a}", "no-such-id"), 404, "No job is numbered or has the RunPod id “no-such-id”."),
        (("{a}", "9" * 40), 404, "No job is numbered"),
        (("{a}", "²"), 404, "No job is numbered"),
        (("{a}", "<b>x</b>"), 404, "“&lt;b&gt;x&lt;/b&gt;”"),
    ],
)
def test_bad_picks_get_a_clear_message_never_a_500(as_viewer, refs, status, message):
    """Too few, too many, the same twice or unknown ids: a sentence, the right status, the form to try again."""
    a, b = finished(60), finished(10)
    response = compare(as_viewer, *(ref.format(a=a.pk, b=b.pk) for ref in refs))
    html = response.content.decode()
    assert response.status_code == status
    assert message in html and 'id="compare-error"' in html and 'class="compare-pick"' in html


def test_without_jobs_the_page_asks_for_two(as_viewer):
    """The bare address is the page with its two boxes, no error."""
    response = compare(as_viewer)
    html = response.content.decode()
    assert response.status_code == 200 and 'class="compare-pick"' in html and "compare-error" not in html


def test_a_runpod_id_on_two_endpoints_asks_for_the_job_number(as_viewer):
    """The same RunPod id on two endpoints is ambiguous: the page says to use the job number."""
    finished(60, runpod_id="shared-id")
    finished(50, runpod_id="shared-id")
    other = finished(10)
    response = compare(as_viewer, other.pk, "shared-id")
    assert response.status_code == 404
    assert "is on several endpoints" in response.content.decode()


def test_the_jobs_list_offers_a_compare_form_with_a_checkbox_per_row(as_viewer):
    """Each row's checkbox belongs to the GET form that opens the compare page (no script needed)."""
    jobs = [finished(60), finished(10)]
    html = as_viewer.get(reverse("job_list")).content.decode()
    assert f'<form id="compare-form" class="compare-form" method="get" action="{reverse("job_compare")}">' in html
    for job in jobs:
        assert f'<input type="checkbox" name="job" value="{job.pk}" form="compare-form"' in html


def test_the_endpoint_pages_compact_table_has_no_checkboxes(as_viewer):
    """The compare form lives on the jobs list only; the endpoint page's table and its refresh have no boxes."""
    job = finished(10)
    html = as_viewer.get(reverse("endpoint_detail", args=[job.endpoint_id])).content.decode()
    assert "data-compare-pick" not in html
    rows = as_viewer.get(reverse("job_rows_hx") + f"?ids={job.pk}&compact=1", HTTP_HX_REQUEST="true")
    assert "data-compare-pick" not in rows.content.decode()
    rows = as_viewer.get(reverse("job_rows_hx") + f"?ids={job.pk}", HTTP_HX_REQUEST="true")
    assert "data-compare-pick" in rows.content.decode()
