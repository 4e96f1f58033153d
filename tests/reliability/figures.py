"""The figures behind docs/reliability.md: each test writes what it tried and what it found as JSON.

Files go to $ARTIFACTS_DIR/reliability/ (or artifacts/reliability/), one per figure name, so a partial run
refreshes only its own figures and the doc can quote every number with the command that produced it.
"""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def figures_dir() -> Path:
    base = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
    path = base / "reliability"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(name: str, **figures) -> Path:
    """Write one figure set, stamped with when and on which database it was measured."""
    data = {
        "name": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "python": platform.python_version(),
        **figures,
    }
    path = figures_dir() / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


class Tally:
    """Counts inputs tried and answers by status code across the examples of a property test."""

    def __init__(self):
        self.tried = 0
        self.by_status: dict[int, int] = {}

    def add(self, status: int) -> None:
        self.tried += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    @property
    def server_errors(self) -> int:
        # 502 (RunPod failed us) and 503 (database down) are deliberate answers; a crash is always a 500.
        return self.by_status.get(500, 0)

    def as_dict(self) -> dict:
        return {"inputs": self.tried, "by_status": dict(sorted(self.by_status.items())), "500s": self.server_errors}
