"""Model factories for tests: plain functions with keyword overrides."""

import itertools

from django.contrib.auth.models import Group, User
from django.utils import timezone

from jobs.models import Endpoint, Job

_seq = itertools.count(1)


def make_user(role="Viewers", username=None, password="pw-for-tests-only", **extra) -> User:
    """A user in one of the role groups (Viewers, Operators, Admins); role=None for no group."""
    user = User.objects.create_user(username=username or f"user{next(_seq)}", password=password, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_endpoint(**fields) -> Endpoint:
    n = next(_seq)
    defaults = {"name": f"endpoint-{n}", "runpod_id": f"ep{n}", "api_key": "test-key", "base_url": "http://sim/v2"}
    defaults.update(fields)
    return Endpoint.objects.create(**defaults)


def make_job(endpoint=None, **fields) -> Job:
    n = next(_seq)
    defaults = {
        "endpoint": endpoint or make_endpoint(),
        "runpod_id": f"job-{n:08d}",
        "status": "IN_QUEUE",
        "input": {"prompt": f"job {n}"},
        "submitted_at": timezone.now(),
    }
    defaults.update(fields)
    return Job.objects.create(**defaults)


def make_sim_jobs(endpoint, n, *, seconds=300) -> list[Job]:
    """n long jobs created at the simulator and recorded here as IN_QUEUE, as they would be once sent (quicker
    than the send path, which has tests of its own)."""
    from jobs.services.clients import client_for

    now = timezone.now()
    with client_for(endpoint) as client:
        ids = [client.run({"simulate": {"seconds": seconds}}).id for _ in range(n)]
    rows = [
        Job(endpoint=endpoint, runpod_id=i, status="IN_QUEUE", input={}, submitted_at=now, next_poll_at=now)
        for i in ids
    ]
    return Job.objects.bulk_create(rows)
