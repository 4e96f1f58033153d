"""`python manage.py demo_setup`: make a fresh install ready to look at. `make run` runs it; safe to repeat.

1. Logins: admin, operator and viewer, one per role, with random passwords made on the first run and kept in
   var/demo-logins.txt (mode 0600). An existing user's password is never changed.
2. Endpoints: with RUNPOD_API_KEY and RUNPOD_ENDPOINT_IDS, those real endpoints on RUNPOD_BASE_URL (the demo ones
   are switched off); otherwise, in DEMO_MODE, the demo endpoints on the simulator at SIMULATOR_URL.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.models import Endpoint

LOGINS_PATH = settings.BASE_DIR / "var" / "demo-logins.txt"
# username -> (role group, staff and superuser)
DEMO_USERS = {"admin": ("Admins", True), "operator": ("Operators", False), "viewer": ("Viewers", False)}
DEMO_API_KEY = "demo-key"  # the simulator accepts any non-empty key


@dataclass(frozen=True)
class DemoEndpoint:
    """An endpoint of the demo: its row here and its worker pool on the simulator."""

    name: str
    pool: dict


DEMO_ENDPOINTS = (
    # Always one warm worker: jobs start at once.
    DemoEndpoint("demo", {"min_workers": 1, "max_workers": 3, "idle_timeout": 30.0, "cold_start": 2.0}),
    # Scales from zero with slow cold starts and one throttled worker: queues build up and drain.
    DemoEndpoint(
        "demo-gpu",
        {"min_workers": 0, "max_workers": 4, "idle_timeout": 20.0, "cold_start": 8.0, "throttled_workers": 1},
    ),
)


class Command(BaseCommand):
    help = "Create the demo logins and the demo (or RUNPOD_ENDPOINT_IDS) endpoints; idempotent."

    def handle(self, *args, **options):
        if settings.RUNPOD_API_KEY:
            endpoints = real_endpoints_setup(settings.RUNPOD_API_KEY, settings.RUNPOD_ENDPOINT_IDS)
        elif settings.DEMO_MODE:
            endpoints = demo_endpoints_setup(settings.SIMULATOR_URL)
        else:
            endpoints = []
        for endpoint in endpoints:
            self.stdout.write(f"Endpoint {endpoint.name}: {endpoint.base_url}/{endpoint.runpod_id}")
        self.stdout.write(f"Logins (kept in {LOGINS_PATH}):")
        for username, password in logins_setup(LOGINS_PATH).items():
            role = DEMO_USERS[username][0]
            shown = password or "(existing user: password unchanged)"
            self.stdout.write(f"  {username:<9} {shown:<24} {role}")


def logins_setup(path: Path) -> dict[str, str | None]:
    """Create the missing demo users; return username -> password where the password is known to work."""
    known = read_logins(path)
    result: dict[str, str | None] = {}
    with transaction.atomic():
        for username, (role, is_admin) in DEMO_USERS.items():
            password = known.get(username)
            user = User.objects.filter(username=username).first()
            if user is None:
                password = password or secrets.token_urlsafe(12)
                user = User.objects.create_user(username, password=password, is_staff=is_admin, is_superuser=is_admin)
                user.groups.add(Group.objects.get(name=role))
            result[username] = password if password and user.check_password(password) else None
    write_logins(path, {name: pw for name, pw in result.items() if pw})
    return result


def read_logins(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split()[:2] for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def write_logins(path: Path, logins: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Demo logins made by `manage.py demo_setup`: username password"]
    lines += [f"{name} {password}" for name, password in logins.items()]
    # Created 0600 and re-chmodded, so the passwords are never readable by others, even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("\n".join(lines) + "\n")


def demo_endpoints_setup(simulator_url: str) -> list[Endpoint]:
    """The demo endpoints, pointed at the simulator (its port may differ between runs) and enabled."""
    endpoints = []
    for demo in DEMO_ENDPOINTS:
        endpoint, _ = Endpoint.objects.update_or_create(
            name=demo.name,
            defaults={"runpod_id": demo.name, "base_url": simulator_url, "api_key": DEMO_API_KEY, "enabled": True},
        )
        endpoints.append(endpoint)
    return endpoints


def real_endpoints_setup(api_key: str, endpoint_ids: list[str]) -> list[Endpoint]:
    """RUNPOD_ENDPOINT_IDS on RUNPOD_BASE_URL with RUNPOD_API_KEY; the demo endpoints are switched off."""
    if not endpoint_ids:
        raise CommandError("RUNPOD_API_KEY is set but RUNPOD_ENDPOINT_IDS is empty: list your endpoint ids.")
    Endpoint.objects.filter(name__in=[d.name for d in DEMO_ENDPOINTS]).update(enabled=False)
    endpoints = []
    for endpoint_id in endpoint_ids:
        endpoint = Endpoint.objects.filter(base_url=settings.RUNPOD_BASE_URL, runpod_id=endpoint_id).first()
        if endpoint is None:
            endpoint = Endpoint(name=endpoint_id, runpod_id=endpoint_id, base_url=settings.RUNPOD_BASE_URL)
        endpoint.api_key = api_key
        endpoint.enabled = True
        endpoint.save()
        endpoints.append(endpoint)
    return endpoints
