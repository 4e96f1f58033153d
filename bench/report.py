"""Turn the benchmarks' result files (var/bench/*.json) into the generated parts of docs/benchmarks.md.

Each generated part sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in the document; everything
outside the markers (the other teams' sections, our notes on what the figures mean) is left as it is.

    .venv/bin/python bench/report.py                       # rewrite the marked parts from var/bench/
    .venv/bin/python bench/report.py --check               # fail if a marker pair is missing
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report_sections import (  # noqa: E402
    api_scale,
    bulk_cancel,
    capture,
    memory,
    page_speed,
    poll_capacity,
    stream_latency,
    summary,
)

DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "var" / "bench"
BLOCKS = (
    "summary",
    "poll_capacity",
    "capture",
    "page_speed",
    "memory",
    "stream_latency",
    "bulk_cancel",
    "api_scale",
)


class MissingMarker(Exception):
    """The document lacks the start or end marker of a generated part."""


def replace_block(text: str, name: str, body: str) -> str:
    """The document with the part between `name`'s markers replaced by body."""
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.DOTALL)
    if not pattern.search(text):
        raise MissingMarker(f"docs/benchmarks.md has no <!-- bench:{name} --> ... <!-- /bench:{name} --> pair")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text, count=1)


def load_results(directory: Path = RESULTS) -> dict:
    found = {}
    for name in (*BLOCKS, "poll_capacity_sqlite"):
        path = directory / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def render(results: dict) -> dict[str, str]:
    parts = {"summary": summary(results)}
    if "poll_capacity" in results:
        parts["poll_capacity"] = poll_capacity(results["poll_capacity"], results.get("poll_capacity_sqlite"))
    for name, renderer in (
        ("capture", capture),
        ("page_speed", page_speed),
        ("memory", memory),
        ("stream_latency", stream_latency),
        ("bulk_cancel", bulk_cancel),
        ("api_scale", api_scale),
    ):
        if name in results:
            parts[name] = renderer(results[name])
    return parts


def update_docs(results: dict, docs: Path = DOCS) -> list[str]:
    """Rewrite the marked parts that have results; returns their names.

    The summary keeps its rows for benchmarks without a result here, so rerunning one benchmark updates its own
    rows and leaves the others' figures as they were.
    """
    text = docs.read_text()
    parts = render(results)
    parts["summary"] = merge_summary(current_block(text, "summary"), parts["summary"])
    for name, body in parts.items():
        text = replace_block(text, name, body)
    docs.write_text(text)
    return list(parts)


def current_block(text: str, name: str) -> str:
    match = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", text, re.DOTALL)
    return match.group(1) if match else ""


def merge_summary(old: str, new: str) -> str:
    """The new summary table, plus the old table's rows whose item (first cell) the new one lacks, in old order."""

    def rows(table):
        lines = [line for line in table.splitlines() if line.startswith("|")]
        return lines[:2], lines[2:]

    def item(row):
        return row.split("|")[1].strip()

    head, fresh = rows(new)
    _, before = rows(old)
    if not before:
        return new
    by_item = {item(row): row for row in fresh}
    merged = [by_item.pop(item(row), row) for row in before]
    for name, row in by_item.items():
        # A new row goes after the last one of its issue item ("1. ..."), or at the end.
        number = name.split(" ", 1)[0]
        at = max((i + 1 for i, old in enumerate(merged) if item(old).split(" ", 1)[0] == number), default=len(merged))
        merged.insert(at, row)
    return "\n".join([*head, *merged]) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--check", action="store_true", help="only check that every marker pair is there")
    args = parser.parse_args(argv)
    if args.check:
        text = DOCS.read_text()
        for name in BLOCKS:
            replace_block(text, name, "")
        print("every marker pair is there")
        return
    updated = update_docs(load_results(Path(args.results)))
    print(f"docs/benchmarks.md: updated {', '.join(updated) or 'nothing (no results)'}", file=sys.stderr)


if __name__ == "__main__":
    main()
