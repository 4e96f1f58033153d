"""`manage.py health worker celery@HOST` / `manage.py health beat`: exit 1 with the reason when stuck.

Used by docker-compose's healthchecks and `make run`'s supervisor; see docs/operations.md for systemd.
"""

import contextlib
import os
import signal

from django.core.management.base import BaseCommand, CommandError

from jobs.services.heartbeat import beat_problem, worker_problem


class Command(BaseCommand):
    help = "Fail when a worker has consumed no poll tick while beat kept sending them, or beat sends none."

    def add_arguments(self, parser):
        parser.add_argument("role", choices=["worker", "beat"])
        parser.add_argument("hostname", nargs="?", help="the worker's Celery hostname, e.g. celery@$HOSTNAME")
        parser.add_argument("--stale-seconds", type=float, default=None, help="default HEARTBEAT_STALE_SECONDS")
        parser.add_argument(
            "--stop-pid",
            type=int,
            default=None,
            help="on failure, SIGTERM this process too (1 in a container: its restart policy brings a fresh one)",
        )

    def handle(self, role, hostname=None, stale_seconds=None, stop_pid=None, **options):
        if role == "worker" and not hostname:
            raise CommandError("name the worker: manage.py health worker celery@$HOSTNAME")
        if role == "worker":
            problem = worker_problem(hostname, stale_seconds=stale_seconds)
        else:
            problem = beat_problem(stale_seconds=stale_seconds)
        if problem:
            if stop_pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(stop_pid, signal.SIGTERM)
            raise CommandError(problem)
        self.stdout.write(f"{role} {hostname or ''} healthy".replace("  ", " "))
