"""var/ and what is in it are this user's alone: the directory 0700, the SQLite database, the embedded broker's
message files, the secret key and the demo logins 0600 (the session table alone is enough to become admin)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(code: str, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env}
    environment.pop("DATABASE_URL", None)
    environment.update(env)
    script = f"import django; django.setup(); {code}"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_var_is_private_to_its_user():
    """Loading the settings leaves var/ at 0700, whatever it was."""
    assert mode(settings.VAR_DIR) == 0o700


def test_a_new_sqlite_database_and_its_journal_are_private(tmp_path):
    """The database SQLite creates (and its WAL, if any) is 0600, not the umask's 0644."""
    database = tmp_path / "db.sqlite3"
    result = run(
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t (x)'); c.execute('INSERT INTO t VALUES (1)')",
        DATABASE_URL=f"sqlite:///{database}",
    )
    assert result.returncode == 0, result.stderr
    files = [p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite3")]
    assert files and all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}


def test_the_embedded_brokers_message_files_are_private(tmp_path):
    """A task published on the filesystem broker is a 0600 file in 0700 folders."""
    result = run(
        "from jobs.tasks import prune_tick; prune_tick.delay()",
        CELERY_BROKER_URL="filesystem://",
        CELERY_BROKER_DIR=str(tmp_path / "broker"),
        USE_REDIS_CACHE="no",
    )
    assert result.returncode == 0, result.stderr
    queues = tmp_path / "broker" / "queues"
    messages = list(queues.iterdir())
    assert messages, "the task was published"
    assert mode(queues) == 0o700 and all(mode(m) == 0o600 for m in messages)
