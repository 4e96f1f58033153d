"""`python manage.py demo_traffic`: a gentle, endless stream of demo jobs so every page has something to show.

`make run` starts it beside the simulator. It gives the simulator the demo endpoints' worker pools, then every few
seconds does one thing an ops team would see: a quick job, a slow one with progress, a failing one, a stream, a
/runsync call, a burst on the scale-from-zero endpoint, a job without output, a large output, a job submitted
elsewhere and tracked by id, or an operator cancelling a long job. It stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs import services
from jobs.constants import CANCELLABLE_STATES, FINAL_STATES, LOCAL_FINAL_STATES
from jobs.management.commands.demo_setup import DEMO_ENDPOINTS
from jobs.models import Endpoint, Job
from jobs.services.clients import client_for

logger = logging.getLogger("jobs.demo_traffic")

PROMPTS = (
    "a lighthouse in a storm, oil painting",
    "summarise this quarter's support tickets",
    "translate the release notes into German",
    "a corgi astronaut, 35 mm photo",
    "transcribe meeting-2024-03-12.wav",
    "embed 512 product descriptions",
    "upscale frame_0042.png to 4k",
)
FAILURES = (
    "CUDA out of memory. Tried to allocate 2.50 GiB",
    "ValueError: prompt is longer than 4096 tokens",
    "RuntimeError: model weights not found at /runpod-volume/models",
)
# Jobs not yet final beyond which the traffic waits: it must stay gentle if the worker is down or slow.
MAX_BACKLOG = 40


class Command(BaseCommand):
    help = "Submit a varied trickle of demo jobs to the demo endpoints until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=4.0, help="mean seconds between actions (default 4)")
        parser.add_argument("--count", type=int, help="stop after this many actions (default: never)")
        parser.add_argument("--seed", type=int, help="seed the choice of actions")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the simulator")

    def handle(self, *args, interval, count, seed, wait, **options):
        stop = threading.Event()
        previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.loop(stop, interval=interval, count=count, seed=seed, wait=wait)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def loop(self, stop, *, interval, count, seed, wait):
        endpoints = {e.name: e for e in Endpoint.objects.filter(name__in=[d.name for d in DEMO_ENDPOINTS])}
        if len(endpoints) < len(DEMO_ENDPOINTS):
            raise CommandError("The demo endpoints are missing: run `python manage.py demo_setup` first.")
        if not simulator_configure(settings.SIMULATOR_URL, stop, deadline=time.monotonic() + wait):
            return
        traffic = DemoTraffic(endpoints, random.Random(seed))
        self.stdout.write(f"Demo traffic: one action every ~{interval:g} s on {', '.join(endpoints)}.")
        done = 0
        while not stop.is_set() and (count is None or done < count):
            traffic.step()
            done += 1
            stop.wait(traffic.rng.uniform(0.5, 1.5) * interval)
        self.stdout.write(f"Demo traffic stopped after {done} action(s).")


def simulator_configure(simulator_url: str, stop: threading.Event, *, deadline: float) -> bool:
    """Give the simulator the demo endpoints' pools, waiting for it to start; False if stopped meanwhile."""
    control = simulator_url.rstrip("/").removesuffix("/v2") + "/_sim/endpoints"
    for demo in DEMO_ENDPOINTS:
        while not stop.is_set():
            try:
                httpx.post(control, json={"id": demo.name, **demo.pool}, timeout=5).raise_for_status()
                break
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"The simulator at {control} does not answer: {exc}") from exc
                stop.wait(0.5)
    return not stop.is_set()


class DemoTraffic:
    """One weighted random action per step; each action is a short method."""

    def __init__(self, endpoints: dict[str, Endpoint], rng: random.Random):
        self.endpoints = endpoints
        self.rng = rng
        self.user = User.objects.filter(username="operator").first()
        # Every kind once first, so each page has something to show within the first minute.
        self.opening = [self.quick, self.streaming, self.failing, self.runsync, self.slow, self.burst, self.tracked]
        self.actions: list[tuple[float, Callable[[], object]]] = [
            (5, self.quick),
            (2, self.slow),
            (2, self.failing),
            (2, self.streaming),
            (2, self.runsync),
            (1, self.burst),
            (0.4, self.without_output),
            (0.4, self.large_output),
            (0.6, self.tracked),
            (0.6, self.cancel_one),
        ]

    def step(self) -> None:
        """Do one action; a failure is logged and the stream goes on (its exit would stop all of `make run`)."""
        waiting = self.backlog()
        if waiting >= MAX_BACKLOG:
            logger.info("demo traffic paused: %s jobs are not final yet", waiting)
            return
        action = self.opening.pop(0) if self.opening else self.pick()
        try:
            action()
        except Exception:
            logger.exception("demo action %s failed", action.__name__)

    def pick(self) -> Callable[[], object]:
        weights = [weight for weight, _ in self.actions]
        return self.rng.choices([action for _, action in self.actions], weights)[0]

    def backlog(self) -> int:
        jobs = Job.objects.filter(endpoint__in=self.endpoints.values())
        return jobs.exclude(status__in=FINAL_STATES | LOCAL_FINAL_STATES).count()

    def submit(self, simulate: dict, *, endpoint="demo", **options) -> Job:
        job_input = {"prompt": self.rng.choice(PROMPTS), "simulate": simulate}
        return services.job_submit(endpoint=self.endpoints[endpoint], input=job_input, user=self.user, **options)

    def quick(self):
        return self.submit({"seconds": round(self.rng.uniform(1, 4), 1)})

    def slow(self):
        return self.submit({"seconds": round(self.rng.uniform(20, 45)), "progress": True, "interval": 3})

    def failing(self):
        return self.submit({"seconds": round(self.rng.uniform(1, 3), 1), "fail": self.rng.choice(FAILURES)})

    def streaming(self):
        return self.submit({"stream": self.rng.randint(8, 20), "interval": 0.7}, streaming=True)

    def runsync(self):
        return self.submit({"seconds": round(self.rng.uniform(0.5, 2), 1)}, mode="runsync")

    def burst(self):
        """Several jobs at once on the endpoint that scales from zero: a queue, cold starts, then idle again."""
        return [
            self.submit({"seconds": round(self.rng.uniform(5, 15))}, endpoint="demo-gpu")
            for _ in range(self.rng.randint(4, 7))
        ]

    def without_output(self):
        """COMPLETED with no output: RunPod's known trap when a worker's upload fails."""
        return self.submit({"seconds": 1, "no_output": True})

    def large_output(self):
        return self.submit({"seconds": 2, "output_bytes": self.rng.choice((50_000, 300_000))})

    def tracked(self):
        """A job some other tool submitted, followed here by its id."""
        endpoint = self.endpoints["demo"]
        job_input = {"prompt": self.rng.choice(PROMPTS), "simulate": {"seconds": 3}}
        with client_for(endpoint) as client:
            state = client.run(job_input)
        return services.job_track(endpoint=endpoint, runpod_id=state.id, user=self.user)

    def cancel_one(self):
        """An operator gives up on a long job that has been running a while."""
        cutoff = timezone.now() - timedelta(seconds=8)
        job = (
            Job.objects.filter(endpoint__in=self.endpoints.values(), status__in=CANCELLABLE_STATES)
            .filter(created_at__lt=cutoff)
            .order_by("created_at")
            .first()
        )
        return services.job_cancel(job=job, user=self.user) if job else self.slow()
