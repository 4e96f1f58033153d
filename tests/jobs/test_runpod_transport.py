"""The RunPod client over real sockets: both pools (httpx and httpx-aiohttp), dropped connections, refused
connections, long-poll timeouts, what goes on the wire, and what reaches the logs."""

import asyncio
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs import runpod
from jobs.runpod import RateLimiter
from scripts.ports import free_port

KEY = "rpa_WIRE_SECRET_KEY_5f2b9c"
S3 = {"accessId": "AKIA_WIRE_ACCESS_ID", "accessSecret": "wire-s3-secret-value", "bucketName": "b"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server = self.server
        server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        if server.mode == "drop":
            self.close_connection = True
            return
        if server.delay:
            time.sleep(server.delay)  # the server's own latency, not a wait in the test
        payload = json.dumps(server.answer).encode()
        self.send_response(server.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    """A local HTTP/1.1 server that records requests and answers as told."""

    daemon_threads = True

    def __init__(self, idle_timeout=None):
        handler = type("Handler", (_Handler,), {"timeout": idle_timeout})
        super().__init__(("127.0.0.1", 0), handler)
        self.seen, self.closed = [], 0
        self.mode, self.delay, self.code = "answer", 0.0, 200
        self.answer = {"id": "job-1", "status": "IN_PROGRESS"}
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/v2"

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.closed += 1  # counted once the socket is really closed, so the client can see it


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(params=["httpx", "aiohttp"])
def flavour(request):
    return request.param


def call(flavour, base_url, method, *args, sleeps=None, kwargs=None, **options):
    """Run one client method with the sync client (httpx pool) or the async one (httpx-aiohttp pool)."""
    options = {"base_url": base_url, "limiter": RateLimiter.unlimited(), **options}
    if flavour == "httpx":
        with runpod.RunPodClient("ep", KEY, **options) as client:
            client._sleep = (sleeps if sleeps is not None else []).append
            return getattr(client, method)(*args, **(kwargs or {}))

    async def main():
        async with runpod.make_async_http() as http:
            client = runpod.AsyncRunPodClient("ep", KEY, http=http, **options)
            assert "Aiohttp" in type(client.http._transport).__name__

            async def sleep(seconds):
                (sleeps if sleeps is not None else []).append(seconds)

            client._sleep = sleep
            return await getattr(client, method)(*args, **(kwargs or {}))

    return asyncio.run(main())


def test_requests_reach_the_server_as_built(server, flavour):
    """Bearer key, JSON body bytes and a quoted job id arrive exactly as the client built them."""
    call(flavour, server.base_url, "run", {"prompt": "hi"})
    call(flavour, server.base_url, "status", "a/b?c")
    run, status = server.seen
    assert run["headers"]["authorization"] == f"Bearer {KEY}" and run["path"] == "/v2/ep/run"
    assert run["body"] == runpod.encode_body({"input": {"prompt": "hi"}})
    assert status["path"] == "/v2/ep/status/a%2Fb%3Fc" and status["method"] == "GET"


def test_a_dropped_run_is_not_sent_twice(server, flavour):
    """A server that takes a /run and hangs up is a transient error with request_sent True, sent once."""
    server.mode = "drop"
    sleeps = []
    with pytest.raises(runpod.TransientError) as info:
        call(flavour, server.base_url, "run", {"prompt": "hi"}, sleeps=sleeps)
    assert info.value.request_sent is True
    assert len(server.seen) == 1 and sleeps == []


def test_a_dropped_status_read_is_retried(server, flavour):
    """The same hang-up on a status read is retried by the client."""
    server.mode = "drop"
    sleeps = []
    with pytest.raises(runpod.TransientError):
        call(flavour, server.base_url, "status", "job-1", sleeps=sleeps, max_retries=2)
    assert len(sleeps) == 2 and len(server.seen) >= 3


def test_a_refused_connection_is_retried_even_for_run(flavour):
    """Nothing listening means the request never left: /run is retried and request_sent is False."""
    port = free_port()
    sleeps = []
    with pytest.raises(runpod.TransientError) as info:
        call(flavour, f"http://127.0.0.1:{port}/v2", "run", {"x": 1}, sleeps=sleeps, max_retries=2)
    assert info.value.request_sent is False and len(sleeps) == 2


def test_an_idle_connection_closed_by_the_server_does_not_fail_the_next_request(flavour):
    """A server that closes idle keep-alive connections is invisible to the caller."""
    srv = Server(idle_timeout=0.05)
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        options = {"base_url": srv.base_url, "limiter": RateLimiter.unlimited(), "max_retries": 0}
        if flavour == "httpx":
            with runpod.RunPodClient("ep", KEY, **options) as client:
                client.status("job-1")
                _wait_for(lambda: srv.closed >= 1)
                assert client.run({"x": 1}).id == "job-1"
        else:

            async def main():
                async with runpod.AsyncRunPodClient("ep", KEY, **options) as client:
                    await client.status("job-1")
                    await _async_wait_for(lambda: srv.closed >= 1)
                    return await client.run({"x": 1})

            assert asyncio.run(main()).id == "job-1"
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_slow_answer_times_out_as_transient(server, flavour):
    """A status read slower than the timeout is a transient error that may have arrived."""
    server.delay = 0.5
    with pytest.raises(runpod.TransientError) as info:
        call(flavour, server.base_url, "status", "job-1", timeout=0.1, max_retries=0)
    assert info.value.request_sent is True and info.value.status_code is None


def test_a_long_poll_outlasts_the_plain_timeout(server, flavour):
    """A stream call with wait_ms is given the wait plus a margin, beyond the plain timeout."""
    server.delay, server.answer = 0.4, {"status": "IN_PROGRESS", "stream": [{"output": "tok"}]}
    batch = call(flavour, server.base_url, "stream", "job-1", timeout=0.1, max_retries=0)
    assert batch.chunks == ("tok",)


def test_error_bodies_echoing_secrets_are_scrubbed(server, flavour):
    """A server echoing the key or s3Config back in an error body does not put them in the exception."""
    server.code, server.answer = 400, {"error": "bad", "echo": {"auth": f"Bearer {KEY}", "s3": S3}}

    def run_with_s3():
        if flavour == "httpx":
            with runpod.RunPodClient("ep", KEY, base_url=server.base_url) as client:
                return client.run({"x": 1}, s3_config=S3)

        async def main():
            async with runpod.AsyncRunPodClient("ep", KEY, base_url=server.base_url) as client:
                return await client.run({"x": 1}, s3_config=S3)

        return asyncio.run(main())

    with pytest.raises(runpod.BadRequestError) as info:
        run_with_s3()
    text = f"{info.value} {info.value.body} {info.value!r}"
    assert "[redacted]" in info.value.body
    for secret in (KEY, S3["accessId"], S3["accessSecret"]):
        assert secret not in text


def test_logs_name_each_request_but_never_the_key(server, flavour, caplog):
    """At DEBUG, for us and for httpx, httpcore, aiohttp and asyncio, one line per request and no secret."""
    for name in ("", "jobs.runpod", "httpx", "httpcore", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    call(flavour, server.base_url, "status", "job-1")
    call(flavour, server.base_url, "runsync", {"x": 1}, kwargs={"s3_config": S3})
    server.code = 401
    with pytest.raises(runpod.AuthError):
        call(flavour, server.base_url, "cancel", "job-1")
    ours = [r.getMessage() for r in caplog.records if r.name == "jobs.runpod"]
    assert len(ours) == 3
    assert ours[0].startswith("status endpoint=ep job=job-1 status=200 elapsed_ms=")
    assert ours[1].startswith("runsync endpoint=ep job=- status=200 elapsed_ms=")
    assert ours[2].startswith("cancel endpoint=ep job=job-1 status=401")
    assert any(r.name.startswith(("httpx", "httpcore", "aiohttp")) for r in caplog.records) or flavour == "aiohttp"
    for secret in (KEY, "Bearer", S3["accessId"], S3["accessSecret"]):
        assert secret not in caplog.text


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


async def _async_wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)
