"""scripts/reliability_report.py: the figures section of docs/reliability.md comes from the tests' JSON files."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reliability_report.py"

STAMP = {"measured_at": "2026-11-29T12:00:00+00:00", "database": "postgresql", "python": "3.11.7"}
BOOKS = {
    "jobs_submitted": 2000,
    "jobs_run_by_runpod": 1700,
    "jobs_archived": 1700,
    "refused_at_submission": 300,
    "results_lost": 0,
    "duplicate_jobs": 0,
    "duplicate_chunks": 0,
    "chunks_stored": 240,
    "chunks_produced": 240,
    "duplicate_transitions": 0,
    "transitions": 3700,
}
FAULT_RUN = {
    **STAMP,
    **BOOKS,
    "name": "fault_run",
    "seconds": 117.0,
    "requests": 4335,
    "faults_injected": {"error": 324, "timeout": 179, "drop": 102, "burst_429": 198, "rate_limited": 0},
    "faults_played": {"bursts_with_retry_after": 13, "bursts_without_retry_after": 12, "slow_periods": 8},
    "recovery_seconds": 0.93,
    "every_pushed_back_job_polled_seconds": 1.45,
    "cycle_seconds": 4.0,
    "max_status_calls_per_10s": 444,
}


def run_report(tmp_path, monkeypatch, figures: dict[str, dict]):
    folder = tmp_path / "figures"
    folder.mkdir()
    for name, data in figures.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    doc = tmp_path / "reliability.md"
    doc.write_text("# Title\nprose\n<!-- reliability:figures -->\nold figures\n<!-- /reliability:figures -->\nafter\n")
    spec = importlib.util.spec_from_file_location("reliability_report", SCRIPT)
    reliability_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reliability_report)
    monkeypatch.setattr(reliability_report, "DOC", doc)
    monkeypatch.setattr(sys, "argv", ["reliability_report.py", "--figures", str(folder)])
    assert reliability_report.main() == 0
    return doc.read_text()


def test_the_section_is_rewritten_from_the_figures_and_the_prose_kept(tmp_path, monkeypatch):
    text = run_report(tmp_path, monkeypatch, {"fault_run": FAULT_RUN})
    assert text.startswith("# Title\nprose\n<!-- reliability:figures -->\n") and text.endswith("after\n")
    assert "old figures" not in text
    row = next(line for line in text.splitlines() if line.startswith("| RunPod faults"))
    assert "| 2,000 | 1,700 | 1,700 | **0** | 0 / 0 / 0 | 117 | 2026-11-29 12:00 UTC, postgresql |" in row
    assert "324 5xx, 179 timeouts" in text and "13 with Retry-After and 12 without" not in text
    assert "in 13 bursts with Retry-After and 12 without" in text
    assert "Submissions refused with a reason" in text and ": 300;" in text


def test_a_missing_figure_is_named_rather_than_kept(tmp_path, monkeypatch):
    text = run_report(tmp_path, monkeypatch, {"fault_run": FAULT_RUN})
    assert "No figures on record for:" in text and "`big_queue` (test_big_queue.py)" in text


def test_no_figures_at_all_is_an_error_that_changes_nothing(tmp_path):
    doc_before = (ROOT / "docs" / "reliability.md").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--figures", str(empty)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and "run the reliability tests first" in result.stderr
    assert (ROOT / "docs" / "reliability.md").read_text() == doc_before
