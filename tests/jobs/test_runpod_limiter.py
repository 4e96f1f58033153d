"""The client-side rate limiter: sliding 10 s windows, concurrency caps, threads and coroutines."""

import asyncio
import random
import threading
import time

import httpx
import pytest
import respx

from jobs import runpod
from jobs.runpod import Limit, RateLimiter

EP = ("https://rp.test/v2", "ep")


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.reads = 0

    def __call__(self):
        self.reads += 1
        return self.now


def limiter_with(per_10s, concurrency, **options):
    limiter = RateLimiter(**options)
    limiter.set_limit(EP, "status", per_10s, concurrency)
    return limiter


def test_window_admits_the_limit_then_refuses_until_the_oldest_leaves():
    """With 5 per 10 s, the sixth request waits until the first is 10 s old."""
    clock = FakeClock()
    limiter = limiter_with(5, None, clock=clock)
    assert limiter.try_acquire(EP, "status")
    clock.now += 1
    assert all(limiter.try_acquire(EP, "status") for _ in range(4))
    assert not limiter.try_acquire(EP, "status")
    clock.now += 8.99
    assert not limiter.try_acquire(EP, "status")
    clock.now += 0.01
    assert limiter.try_acquire(EP, "status")
    assert not limiter.try_acquire(EP, "status")


def test_no_ten_second_window_ever_holds_more_than_the_limit():
    """Over a minute of bursty demand, every 10 s window holds at most the limit, and the budget is used."""
    clock = FakeClock()
    limiter = limiter_with(20, None, clock=clock)
    rng = random.Random(7)
    admitted = []
    start = clock.now
    while clock.now < start + 60:
        for _ in range(rng.randint(0, 6)):
            if limiter.try_acquire(EP, "status"):
                admitted.append(clock.now)
                limiter.release(EP, "status")
        clock.now += rng.uniform(0.01, 0.4)
    worst = max(sum(1 for t in admitted if s <= t < s + 10) for s in admitted)
    assert worst <= 20
    assert len(admitted) >= 20 * 5


def test_concurrency_cap_admits_again_after_a_release():
    """With 3 at once, the fourth waits for a release."""
    limiter = limiter_with(None, 3)
    assert all(limiter.try_acquire(EP, "status") for _ in range(3))
    assert not limiter.try_acquire(EP, "status")
    limiter.release(EP, "status")
    assert limiter.try_acquire(EP, "status")


def test_status_status_sync_and_stream_share_one_bucket():
    """The three read operations count against the one documented status limit."""
    limiter = limiter_with(3, None)
    assert limiter.try_acquire(EP, "status")
    assert limiter.try_acquire(EP, "status-sync")
    assert limiter.try_acquire(EP, "stream")
    assert not limiter.try_acquire(EP, "status")
    assert limiter.try_acquire(EP, "run")


def test_endpoints_and_base_urls_have_separate_buckets():
    """Another endpoint id, or the same id behind another base URL, has its own budget."""
    limiter = limiter_with(1, None)
    assert limiter.try_acquire(EP, "status") and not limiter.try_acquire(EP, "status")
    assert limiter.try_acquire(("https://rp.test/v2", "other"), "status")
    assert limiter.try_acquire(("http://sim/v2", "ep"), "status")
    assert runpod.endpoint_key("https://rp.test/v2/", "ep") == EP


def test_default_limits_follow_the_documented_table():
    """run 1000/200, runsync and status 2000/400, cancel 100/20, purge 2 per 10 s with no cap."""
    limits = RateLimiter().limits
    assert limits["run"] == Limit(1000, 200)
    assert limits["runsync"] == limits["status"] == Limit(2000, 400)
    assert limits["cancel"] == Limit(100, 20) and limits["purge"] == Limit(2, None)
    assert runpod.OPERATION_BUCKETS["purge-queue"] == "purge"


def test_multiplier_scales_every_limit():
    """RateLimiter(multiplier=0.5) halves the defaults, never below one."""
    limits = RateLimiter(multiplier=0.5).limits
    assert limits["status"] == Limit(1000, 200) and limits["purge"] == Limit(1, None)
    assert RateLimiter(multiplier=0.0001).limits["cancel"] == Limit(1, 1)


def test_limits_below_one_are_refused():
    """A limit of 0 would block forever; None means no limit."""
    with pytest.raises(ValueError):
        Limit(0, 5)


def test_unlimited_limiter_admits_everything():
    """RateLimiter.unlimited() never refuses and never counts, for benchmarks."""
    limiter = RateLimiter.unlimited()
    assert all(limiter.try_acquire(EP, "purge-queue") for _ in range(10_000))
    limiter.acquire(EP, "purge-queue")
    asyncio.run(limiter.acquire_async(EP, "purge-queue"))


def test_default_limiter_is_one_per_process_and_used_by_clients():
    """Clients without a limiter share default_limiter(); set_default_limiter swaps it."""
    assert runpod.default_limiter() is runpod.default_limiter()
    assert runpod.RunPodClient("ep", "k").limiter is runpod.default_limiter()
    mine = RateLimiter()
    previous = runpod.set_default_limiter(mine)
    try:
        assert runpod.AsyncRunPodClient("ep", "k").limiter is mine
    finally:
        runpod.set_default_limiter(previous)


def test_threads_never_exceed_the_concurrency_cap():
    """Twenty threads through a cap of 4: at most 4 inside at once, and every thread gets through."""
    limiter = limiter_with(None, 4)
    inside, peak, done, lock = [0], [0], [], threading.Lock()

    def work():
        with limiter.slot(EP, "status"):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.005)  # hold the slot long enough for others to contend
            with lock:
                inside[0] -= 1
        done.append(1)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(done) == 20 and 1 < peak[0] <= 4


def test_coroutines_never_exceed_the_concurrency_cap():
    """Fifty coroutines through a cap of 5: at most 5 inside at once, all finish."""
    limiter = limiter_with(None, 5)

    async def main():
        inside, peak = [0], [0]

        async def work():
            async with limiter.async_slot(EP, "status"):
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                await asyncio.sleep(0.002)
                inside[0] -= 1

        await asyncio.gather(*(work() for _ in range(50)))
        return peak[0]

    assert asyncio.run(main()) == 5


def test_async_acquire_waits_for_the_window_without_busy_looping():
    """Coroutines beyond the window's count sleep until the oldest slot leaves, reading the clock only a few times."""
    reads = [0]

    def clock():
        reads[0] += 1
        return time.monotonic()

    limiter = limiter_with(5, None, window=0.3, clock=clock)

    async def main():
        stamps = []

        async def work():
            await limiter.acquire_async(EP, "status")
            stamps.append(time.monotonic())
            limiter.release(EP, "status")

        await asyncio.gather(*(work() for _ in range(15)))
        return stamps

    started = time.monotonic()
    stamps = asyncio.run(main())
    assert len(stamps) == 15 and stamps[-1] - started >= 0.6 * 0.95
    assert max(sum(1 for t in stamps if s <= t < s + 0.29) for s in stamps) <= 5
    assert reads[0] < 120


def test_a_cancelled_waiter_passes_its_turn_on():
    """When the coroutine at the head of the queue is cancelled, the next one is still admitted on release."""
    limiter = limiter_with(None, 1)

    async def main():
        await limiter.acquire_async(EP, "status")
        first = asyncio.create_task(limiter.acquire_async(EP, "status"))
        second = asyncio.create_task(limiter.acquire_async(EP, "status"))
        await asyncio.sleep(0)
        first.cancel()
        limiter.release(EP, "status")
        await asyncio.wait_for(second, timeout=5)
        return limiter.bucket(EP, "status").in_flight

    assert asyncio.run(main()) == 1


def test_a_release_from_another_thread_wakes_an_async_waiter():
    """A slot freed by a sync client in a thread admits a coroutine waiting in an event loop."""
    limiter = limiter_with(None, 1)
    limiter.acquire(EP, "status")

    async def main():
        waiter = asyncio.create_task(limiter.acquire_async(EP, "status"))
        await asyncio.sleep(0)
        threading.Thread(target=limiter.release, args=(EP, "status")).start()
        await asyncio.wait_for(waiter, timeout=5)

    asyncio.run(main())
    assert limiter.bucket(EP, "status").in_flight == 1


def test_raising_a_limit_wakes_waiters():
    """set_limit with room to spare admits a waiting thread without any release."""
    limiter = limiter_with(None, 1)
    limiter.acquire(EP, "status")
    admitted = threading.Event()

    def wait():
        limiter.acquire(EP, "status")
        admitted.set()

    threading.Thread(target=wait, daemon=True).start()
    deadline = time.monotonic() + 5
    while not limiter.bucket(EP, "status")._waiters and time.monotonic() < deadline:
        time.sleep(0.001)
    limiter.set_limit(EP, "status", None, 2)
    assert admitted.wait(5)


def test_acquisition_is_cheap():
    """Thousands of acquisitions per second are easy: 20,000 acquire/release pairs take well under a second."""
    limiter = limiter_with(1_000_000, 400)
    started = time.perf_counter()
    for _ in range(20_000):
        limiter.acquire(EP, "status")
        limiter.release(EP, "status")
    assert time.perf_counter() - started < 2.0


def test_clients_take_and_return_a_slot_per_attempt():
    """Every attempt, retries included, counts in the window; none stays in flight afterwards."""
    limiter = RateLimiter()
    with respx.mock(base_url="https://rp.test/v2/ep") as api:
        api.get("/status/j").mock(side_effect=[httpx.Response(503), httpx.Response(200, json={"status": "IN_QUEUE"})])
        with runpod.RunPodClient("ep", "k", base_url="https://rp.test/v2", limiter=limiter) as client:
            client._sleep = lambda seconds: None
            client.status("j")
    bucket = limiter.bucket(EP, "status")
    assert bucket.recent() == 2 and bucket.in_flight == 0


def test_a_client_waits_for_its_endpoints_budget():
    """With one status call per window left, the second call waits for the window instead of going out."""
    limiter = limiter_with(1, None, window=0.3)
    with respx.mock(base_url="https://rp.test/v2/ep") as api:
        api.get("/status/j").respond(200, json={"status": "IN_QUEUE"})
        with runpod.RunPodClient("ep", "k", base_url="https://rp.test/v2", limiter=limiter) as client:
            started = time.monotonic()
            client.status("j")
            client.status("j")
    assert time.monotonic() - started >= 0.3 * 0.95


def test_a_waiter_whose_loop_was_closed_does_not_block_the_queue():
    """A coroutine stranded in a loop closed without cleanup is skipped, so a thread behind it still gets in."""
    limiter = limiter_with(None, 1)
    limiter.acquire(EP, "status")
    loop = asyncio.new_event_loop()
    stranded = loop.create_task(limiter.acquire_async(EP, "status"))
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    stranded._log_destroy_pending = False  # stranded on purpose; asyncio would complain about it at exit
    admitted = threading.Event()

    def wait():
        limiter.acquire(EP, "status")
        admitted.set()

    threading.Thread(target=wait, daemon=True).start()
    _wait_until(lambda: len(limiter.bucket(EP, "status")._waiters) == 2)
    limiter.release(EP, "status")
    assert admitted.wait(5)


def _wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)
