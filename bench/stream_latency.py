"""Stream latency: from the simulator producing a chunk to the chunk in the job page in Chromium.

1. Starts the simulator (own process, 50 ms per request), a real Celery worker with its beat and gunicorn, all
   with default settings (a poll tick every 2 s, /stream long polls of 1 s, the page asking for new chunks every
   second), on a PostgreSQL database of our own.
2. For each of --jobs streaming jobs (--chunks chunks, one every --interval s): submits it as the submit form
   does, opens its page in headless Chromium (Playwright, /usr/bin/chromium), and records when each chunk's
   row enters the page (a MutationObserver, Date.now()). When the simulator produced each chunk is read from its
   `chunks_produced` counter, sampled every 20 ms; when we stored it is the chunk's received_at.
3. The comparison in the same run: the loop a user of the official `runpod` package would write to tail the
   same kind of job (`for chunk in job.stream()`), timed from production to the moment the loop yields it.

    .venv/bin/python bench/stream_latency.py                  # 5 jobs of 20 chunks for each side
    .venv/bin/python bench/stream_latency.py --small          # 2 jobs of 10 chunks
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SIM_KEY,
    SimulatorProcess,
    django_setup,
    log,
    new_result,
    percentile,
    pg_create,
    postgres_version,
    write_result,
)
from bench.processes import celery_worker, gunicorn

NAME = "stream_latency"
CHROMIUM = "/usr/bin/chromium"
# Records when each chunk row enters the document, from the first parse on.
OBSERVER = """
window.__chunks = {};
new MutationObserver((mutations) => {
  const now = Date.now();
  for (const mutation of mutations) {
    for (const node of mutation.addedNodes) {
      if (node.nodeType !== 1) continue;
      const rows = node.matches("li[data-seq]") ? [node] : node.querySelectorAll("li[data-seq]");
      for (const row of rows) if (!(row.dataset.seq in window.__chunks)) window.__chunks[row.dataset.seq] = now;
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--jobs", type=int, help="streaming jobs per side (default 5)")
    parser.add_argument("--chunks", type=int, help="chunks per job (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between chunks")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (2 if args.small else 5)
    args.chunks = args.chunks or (10 if args.small else 20)
    return args


class ProductionClock:
    """Samples the simulator's chunks_produced counter in a thread: when did the n-th chunk appear?"""

    def __init__(self, sim: SimulatorProcess, period: float = 0.02):
        self.sim, self.period = sim, period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        import httpx

        with httpx.Client(timeout=5, trust_env=False) as http:
            while not self._stop.is_set():
                before = time.time()
                count = http.get(f"{self.sim.url}/_sim/stats").json()["chunks_produced"]
                # The counter changed somewhere between sending and reading the answer: take the midpoint.
                self.samples.append(((before + time.time()) / 2, count))
                self._stop.wait(self.period)

    def produced_at(self, total: int) -> float | None:
        """When the counter reached `total`: halfway between the last sample below it and the first at it."""
        previous = None
        for at, count in self.samples:
            if count >= total:
                return at if previous is None else (previous + at) / 2
            previous = at
        return None

    def current(self) -> int:
        return self.samples[-1][1] if self.samples else 0


def wait_for_samples(clock: ProductionClock) -> int:
    deadline = time.monotonic() + 10
    while not clock.samples and time.monotonic() < deadline:
        time.sleep(0.02)
    return clock.current()


# --- The dashboard ---------------------------------------------------------------------------------------------


def dashboard_job(page, base_url, endpoint, user, clock, args) -> list[dict]:
    """Submit one streaming job, watch its page until every chunk is there; one row per chunk."""
    from jobs import services
    from jobs.models import StreamChunk

    before = wait_for_samples(clock)
    job = services.job_submit(
        endpoint=endpoint, input={"simulate": {"stream": args.chunks, "interval": args.interval}}, streaming=True,
        user=user,
    )  # fmt: skip
    page.goto(f"{base_url}/jobs/{job.pk}/")
    timeout = (args.chunks * args.interval + 30) * 1000
    page.wait_for_function(f"Object.keys(window.__chunks).length >= {args.chunks}", timeout=timeout)
    seen = page.evaluate("window.__chunks")
    stored = dict(StreamChunk.objects.filter(job=job).values_list("seq", "received_at"))
    rows = []
    for seq in range(args.chunks):
        produced = clock.produced_at(before + seq + 1)
        visible = seen[str(seq)] / 1000
        rows.append(
            {
                "seq": seq,
                "produced_to_visible_s": visible - produced,
                "produced_to_stored_s": stored[seq].timestamp() - produced,
                "stored_to_visible_s": visible - stored[seq].timestamp(),
            }
        )
    return rows


def official_job(sim, clock, args) -> list[dict]:
    """The official package's loop on a job of the same shape: production to the moment it is yielded."""
    import runpod as official

    official.api_key, official.endpoint_url_base = SIM_KEY, sim.base_url
    before = wait_for_samples(clock)
    job = official.Endpoint("stream").run({"simulate": {"stream": args.chunks, "interval": args.interval}})
    rows = []
    for seq, _chunk in enumerate(job.stream()):
        arrived = time.time()
        rows.append({"seq": seq, "produced_to_yielded_s": arrived - clock.produced_at(before + seq + 1)})
    return rows


def summary(rows, key) -> dict:
    values = [row[key] for row in rows]
    return {
        "samples": len(values),
        "p50_s": round(percentile(values, 0.5), 3),
        "p95_s": round(percentile(values, 0.95), 3),
        "max_s": round(max(values), 3),
    }


def run_browser(server_url, endpoint, user, cookie, sim, args) -> tuple[list[dict], list[dict]]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; our ORM calls between its calls are plain sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    rows = []
    with sync_playwright() as playwright, ProductionClock(sim) as clock:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context()
        name, value = cookie.split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": server_url}])
        context.add_init_script(OBSERVER)
        page = context.new_page()
        for n in range(args.jobs):
            rows += dashboard_job(page, server_url, endpoint, user, clock, args)
            log(f"dashboard job {n + 1}: p95 so far {summary(rows, 'produced_to_visible_s')['p95_s']} s")
        browser.close()
        official = []
        for n in range(args.jobs):
            official += official_job(sim, clock, args)
            log(f"runpod package job {n + 1}: p95 so far {summary(official, 'produced_to_yielded_s')['p95_s']} s")
    return rows, official


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = new_result(NAME, argv)
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    # Jobs submitted here go to the worker started below.
    os.environ["CELERY_QUEUE"] = queue
    url = pg_create("bench_stream", fresh=True)
    django_setup(url)
    from bench.memory import session_cookie
    from bench.page_speed import RESULTS, collect_static
    from jobs.models import Endpoint

    os.environ["STATIC_ROOT"] = str(RESULTS / "static")
    collect_static()
    config = {"latency_ms": args.latency_ms, "seed": 11}
    config["endpoints"] = [{"id": "stream", "min_workers": 2, "max_workers": 4, "cold_start": 0}]
    with SimulatorProcess(**config) as sim:
        endpoint = Endpoint.objects.create(name="stream", runpod_id="stream", base_url=sim.base_url, api_key=SIM_KEY)
        cookie = session_cookie()
        from django.contrib.auth.models import User

        user = User.objects.get(username="bench-admin")
        worker = celery_worker(url, queue=queue)
        server = gunicorn(url, workers=2, SECURE_COOKIES="no", STATIC_ROOT=os.environ["STATIC_ROOT"])
        try:
            rows, official = run_browser(server.url, endpoint, user, cookie, sim, args)
        finally:
            server.stop()
            worker.stop()
    ours = summary(rows, "produced_to_visible_s")
    theirs = summary(official, "produced_to_yielded_s")
    result.update(
        jobs=args.jobs,
        chunks=args.chunks,
        interval_s=args.interval,
        latency_ms=args.latency_ms,
        postgres=postgres_version(url),
        dashboard=ours,
        produced_to_stored=summary(rows, "produced_to_stored_s"),
        stored_to_visible=summary(rows, "stored_to_visible_s"),
        runpod_package=theirs,
        ratio_p95_to_package=round(ours["p95_s"] / theirs["p95_s"], 2),
        target_p95_s=2.0,
        meets_target=ours["p95_s"] < 2.0,
    )
    write_result(NAME, result, args.json)
    return result


if __name__ == "__main__":
    main()
