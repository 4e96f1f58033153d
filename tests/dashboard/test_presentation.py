"""Template helpers: charts, the JSON viewer, output media, times and durations."""

from datetime import UTC, datetime, timedelta

import pytest

from dashboard import charts, jsonview
from dashboard.templatetags import dashboard as tags
from jobs.selectors import Bucket, bucket_seconds, percentiles_of


def buckets(values, key="q"):
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    return [Bucket(start + timedelta(minutes=i), None if v is None else {key: v}) for i, v in enumerate(values)]


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (23, 25), (260, 500)])
def test_nice_ceiling_rounds_up_to_a_readable_axis_top(value, ceiling):
    """The y axis ends on 1, 2, 5 (or 2.5 from 10 up) times a power of ten."""
    assert charts.nice_ceiling(value) == ceiling


def test_line_chart_breaks_at_gaps_and_titles_every_bucket():
    """A bucket without data splits the line, and every bucket has a hover title."""
    html = charts.line_chart(buckets([1, 2, None, 4, 5]), [("q", "Queue", "queue")], title="Queue")
    assert html.count('class="line c-queue"') == 2
    assert html.count("<title>") == 5
    assert "no data" in html


def test_chart_without_data_says_so():
    """An empty window shows a message instead of a flat line."""
    html = charts.line_chart(buckets([None, None]), [("q", "Queue", "queue")])
    assert "No data in this window" in html


def test_stacked_and_bar_charts_draw_their_series():
    """Stacked areas and bars draw one shape per series per run, in CSS classes for the themes."""
    rows = [Bucket(datetime(2025, 1, 1, tzinfo=UTC), {"a": 1, "b": 2})] * 3
    series = [("a", "A", "running"), ("b", "B", "idle")]
    stacked = charts.stacked_chart(rows, series)
    assert 'class="area c-running"' in stacked and 'class="area c-idle"' in stacked
    bars = charts.bar_chart(rows, series)
    assert bars.count('class="bar c-running"') == 3


def test_chart_labels_are_escaped():
    """Series labels reach the SVG title escaped."""
    html = charts.line_chart(buckets([1]), [("q", "<b>x</b>", "queue")])
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("window", "seconds"), [(timedelta(minutes=15), 10), (timedelta(hours=1), 30), (timedelta(days=7), 7200)]
)
def test_bucket_size_keeps_charts_near_120_points(window, seconds):
    """Buckets are round sizes that give at most about 120 points."""
    assert bucket_seconds(window, 120) == seconds


def test_percentiles_interpolate_like_postgres():
    """p50/p90/p99 use linear interpolation, as percentile_cont does."""
    result = percentiles_of([1, 2, 3, 4])
    assert (result.p50, result.p90) == (2.5, pytest.approx(3.7))
    assert percentiles_of([]).p50 is None


def test_json_tree_escapes_keys_and_values():
    """Keys and strings are escaped in the tree."""
    html = jsonview.render({"<k>": "<v>"}, name="t")
    assert "&lt;k&gt;" in html and "&lt;v&gt;" in html and "<v>" not in html


def test_json_tree_gives_way_to_text_for_deep_or_large_values():
    """Very deep nesting is shown as text instead of exhausting recursion."""
    deep = current = {}
    for _ in range(500):
        current["x"] = {}
        current = current["x"]
    html = jsonview.render(deep, name="deep")
    assert 'class="json-text"' in html


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("https://example.com/a.PNG", "image"),
        ("http://example.com/report", "link"),
        ("data:image/webp;base64,UklGRiQAAABXRUJQ", "image"),
        ("javascript:alert(1)", None),
        ("data:text/html;base64,PGI+", None),
        ("https://exa mple.com/x", None),
        ("//example.com/x.png", None),
        ("data:image/svg+xml;base64,PHN2Zz4=", None),
    ],
)
def test_output_media_accepts_only_http_urls_and_raster_data_images(text, kind):
    """Only http(s) URLs and data:image of raster types are ever shown as images or links."""
    found = jsonview.find_media({"value": text})
    kinds = [k for k, items in found.items() for _ in items]
    assert kinds == ([kind] if kind else [])


def test_output_media_records_where_each_item_was():
    """Each image or link carries its path in the output."""
    found = jsonview.find_media({"images": ["https://x.org/1.jpg", "https://x.org/2.jpg"]})
    assert [m.path for m in found["image"]] == ["output.images[0]", "output.images[1]"]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "—"), (850, "850 ms"), (12_300, "12.3 s"), (243_000, "4 min 03 s"), (7_500_000, "2 h 05 min")],
)
def test_durations_read_naturally(ms, text):
    """Milliseconds are shown in the largest sensible units."""
    assert tags.duration_ms(ms) == text


def test_countdown_shows_minutes_and_seconds():
    """The retention countdown is mm:ss under an hour and h:mm:ss above."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert tags.countdown(now + timedelta(minutes=29, seconds=5), now) == "29:05"
    assert tags.countdown(now + timedelta(hours=23, minutes=1), now) == "23:01:00"
    assert tags.countdown(now - timedelta(seconds=5), now) == "00:00"


def test_unknown_status_gets_the_neutral_class():
    """Known states have their colour class; anything else is neutral."""
    assert tags.status_class("IN_PROGRESS") == "st-in_progress"
    assert tags.status_class("EXPIRED") == "st-expired"
    assert tags.status_class("<weird>") == "st-unknown"
    assert "&lt;weird&gt;" in tags.status_badge("<weird>")
