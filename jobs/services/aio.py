"""Running the poller's coroutines from synchronous code (Celery tasks, commands, tests)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_sync(coro):
    """asyncio.run, also from a thread that already runs an event loop (then in a short-lived thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="poller-loop") as pool:
        return pool.submit(asyncio.run, coro).result()
