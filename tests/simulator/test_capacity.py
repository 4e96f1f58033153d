"""The engine takes 10,000 jobs on this machine's 2 cores and gives its memory back once they expire."""

import asyncio
import time

from simulator.config import SimulatorConfig
from simulator.engine import Engine

JOBS = 10_000


async def run_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def test_ten_thousand_jobs_complete_and_expire():
    """10,000 queued jobs all run FIFO on a pool of 200 workers, complete, then expire and free their memory."""
    endpoint = {"id": "big", "min_workers": 0, "max_workers": 200, "cold_start": 0, "scaler": "request_count"}
    config = SimulatorConfig.from_dict({"endpoints": [{**endpoint, "job_seconds": [0, 0.002]}], "seed": 1})

    async def scenario():
        engine = Engine(config)
        engine.ensure_started()
        pool = engine.pools["big"]
        jobs = [engine.submit(pool, {"input": {"n": n}}, sync=False) for n in range(JOBS)]
        await run_until(lambda: pool.completed == JOBS, timeout=30)
        assert pool.peak_workers == 200
        assert all(job.output == {"n": n} for n, job in enumerate(jobs))
        starts = [job.started_real for job in jobs]
        assert starts == sorted(starts)
        engine.clock.scale = 3600
        await run_until(lambda: not pool.jobs, timeout=5)
        held = len(engine.deadlines)
        await engine.stop()
        return held

    assert asyncio.run(scenario()) == 0
