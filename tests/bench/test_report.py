"""The benchmark report rewrites only its marked parts of docs/benchmarks.md, from the result files."""

import json

import pytest

from bench import report
from bench.common import percentile

DOC = """# Benchmarks

## Poll capacity
Our notes stay.
<!-- bench:poll_capacity -->
old figures
<!-- /bench:poll_capacity -->

## Simulator throughput
Another team's figures: 13,177 req/s.
"""


def test_a_marked_part_is_replaced_and_the_rest_kept():
    """Only the text between the markers changes; notes and other sections stay byte for byte."""
    text = report.replace_block(DOC, "poll_capacity", "new figures")
    assert "new figures" in text and "old figures" not in text
    assert text.replace("new figures", "old figures") == DOC


def test_a_missing_marker_is_an_error_not_a_silent_skip():
    """Rewriting a part the document does not mark raises, naming the marker."""
    with pytest.raises(report.MissingMarker, match="bench:capture"):
        report.replace_block(DOC, "capture", "figures")


def test_the_docs_in_the_repository_have_every_marker():
    """docs/benchmarks.md carries a marker pair for every generated part."""
    text = report.DOCS.read_text()
    for name in report.BLOCKS:
        report.replace_block(text, name, "x")


def capture_result(lost):
    machine = {"cores": 2, "cpu": "test cpu", "memory_gib": 24, "python": "3.11", "load_average": [1.0]}
    run = {
        "stored": 100, "lost": lost, "lag_p50_s": 2.0, "lag_p99_s": 6.0, "lag_max_s": 7.0,
        "p99_share_of_retention": 0.4, "status_calls": 120, "max_poll_per_10s": 300, "answered_429": 0,
        "seconds": 30.0,
    }  # fmt: skip
    return {
        "command": ".venv/bin/python bench/capture.py", "date": "2026-11-29 10:00 UTC", "machine": machine,
        "jobs": 100, "endpoints": 5, "time_scale": 120, "latency_ms": 50, "retention_s": 15.0, "runs": [run],
        "lost_total": lost, "median_lag_p50_s": 2.0, "median_lag_p99_s": 6.0,
    }  # fmt: skip


def test_update_docs_writes_each_result_into_its_part(tmp_path):
    """A capture result becomes its table and the summary's line, with the command and the machine."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "capture.json").write_text(json.dumps(capture_result(lost=0)))
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "<!-- bench:summary -->\n<!-- /bench:summary -->\n<!-- bench:capture -->\n<!-- /bench:capture -->\n"
    )
    assert report.update_docs(report.load_results(results), docs) == ["summary", "capture"]
    text = docs.read_text()
    assert "`.venv/bin/python bench/capture.py`" in text and "2 cores (test cpu)" in text
    assert "| 2. Capture under load | 0 lost of 100 (1 runs)" in text and "0 lost: met" in text


def test_a_target_not_met_is_said_so():
    """A lost result shows up as a missed target in the summary, not as a pass."""
    line = report.summary({"capture": capture_result(lost=3)})
    assert "0 lost: **not met**" in line


def test_percentiles_interpolate_like_postgresql():
    """percentile() is linear between ranks, as percentile_cont is."""
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10], 0.99) == 10
    assert percentile(range(101), 0.95) == 95


def test_the_summary_keeps_the_rows_of_benchmarks_without_a_result(tmp_path):
    """Rerunning capture alone replaces its summary row and keeps the page-speed row as it stood."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "capture.json").write_text(json.dumps(capture_result(lost=0)))
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "<!-- bench:summary -->\n| issue item | figure (median) | comparison, same run | target |\n"
        "| --- | --- | --- | --- |\n| 2. Capture under load | 9 lost | old | **not met** |\n"
        "| 3. Page speed | 11 of 11 pages within target | 3.5x | every page: met |\n<!-- /bench:summary -->\n"
        "<!-- bench:capture -->\n<!-- /bench:capture -->\n"
    )
    report.update_docs(report.load_results(results), docs)
    rows = [line for line in docs.read_text().splitlines() if line.startswith("| 2.") or line.startswith("| 3.")]
    assert rows[0].startswith("| 2. Capture under load | 0 lost of 100") and "9 lost" not in docs.read_text()
    assert rows[1] == "| 3. Page speed | 11 of 11 pages within target | 3.5x | every page: met |"
