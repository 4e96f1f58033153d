"""Small test helpers."""

import time


def wait_for(predicate, *, timeout=30.0, interval=0.1, message="condition"):
    """Poll predicate() until it returns something truthy; fail with the message after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def logged_in(user, **options):
    """A Django test client already logged in as the user; options go to Client (enforce_csrf_checks, ...)."""
    from django.test import Client

    client = Client(**options)
    client.force_login(user)
    return client


def close_poller_connections():
    """Close the database connections of this thread and of asgiref's executor thread, where the poller's ORM calls
    run, so the test database can be dropped."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all)())
    connections.close_all()
