"""The async client's lean GET path (aiohttp session, orjson) over real sockets: it maps every answer and failure
exactly as the httpx path does, takes the same limiter slots, and keeps the key out of logs and errors."""

import asyncio
import json
import logging
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs import runpod
from jobs.runpod import RateLimiter
from jobs.runpod.client import loads
from jobs.runpod.limiter import endpoint_key

KEY = "rpa_LEAN_PATH_SECRET_8c1e"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        server = self.server
        server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items())})
        code, headers, body = server.answer
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    """Answers every request with `answer` = (status, headers, body bytes) and records what came."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen = []
        self.answer = (200, {"Content-Type": "application/json"}, b'{"id": "j", "status": "IN_QUEUE"}')
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/v2"


@pytest.fixture(scope="module")
def server():
    srv = Server()
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def lean(base_url, method, *args, limiter=None, hooks=None, kwargs=None, **options):
    """One call through AsyncRunPodClient on make_async_http(): GETs take the lean path."""

    async def main():
        async with runpod.make_async_http() as http:
            if hooks is not None:
                http.event_hooks["request"].append(lambda request: _record(hooks, request))
            client = runpod.AsyncRunPodClient(
                "ep", KEY, base_url=base_url, http=http, limiter=limiter or RateLimiter.unlimited(), **options
            )
            return await getattr(client, method)(*args, **(kwargs or {}))

    return asyncio.run(main())


async def _record(hooks, request):
    hooks.append(request.method)


def through_httpx(base_url, method, *args, kwargs=None, **options):
    """The same call on the sync client, whose every request goes through httpx."""
    with runpod.RunPodClient("ep", KEY, base_url=base_url, limiter=RateLimiter.unlimited(), **options) as client:
        return getattr(client, method)(*args, **(kwargs or {}))


def outcome(call):
    """What a call came to, in comparable form: the result, or the error's type, message and fields."""
    try:
        return ("ok", call())
    except runpod.RunPodError as error:
        fields = (error.status_code, error.body, error.operation, error.endpoint_id, error.job_id)
        return (type(error).__name__, str(error), fields, getattr(error, "retry_after", None))


JSON = {"Content-Type": "application/json"}
ANSWERS = {
    "queued": (200, JSON, b'{"id": "j", "status": "IN_QUEUE", "delayTime": 12}'),
    "completed": (200, JSON, b'{"id": "j", "status": "COMPLETED", "output": {"a": [1, 2.5]}, "executionTime": 9}'),
    "nan and a huge int": (200, JSON, b'{"id": "j", "status": "RUNNING", "output": [NaN, 123456789012345678901234]}'),
    "lone surrogate": (200, JSON, b'{"id": "j", "status": "IN_PROGRESS", "output": "\\ud800"}'),
    "not json": (200, {"Content-Type": "text/html"}, b"<html>gateway</html>"),
    "a json list": (200, JSON, b"[1, 2]"),
    "401": (401, JSON, b'{"error": "unauthorized"}'),
    "403": (403, {}, b""),
    "404": (404, JSON, b'{"error": "job not found"}'),
    "408": (408, {}, b"timeout"),
    "429 with seconds": (429, {"Retry-After": "7"}, b"slow down"),
    "429 without": (429, {}, b""),
    "413": (413, {}, b"too big"),
    "400": (400, JSON, b'{"error": "bad id"}'),
    "500": (500, {}, b"boom"),
    "503": (503, JSON, b'{"error": "unavailable"}'),
    "302": (302, {"Location": "https://elsewhere.test/"}, b""),
}


@pytest.mark.parametrize("answer", list(ANSWERS), ids=list(ANSWERS))
def test_every_answer_maps_as_on_the_httpx_path(server, answer):
    """Results and errors (type, message, status, body, Retry-After) are the same on both paths."""
    server.answer = ANSWERS[answer]
    via_lean = outcome(lambda: lean(server.base_url, "status", "j", max_retries=0))
    via_httpx = outcome(lambda: through_httpx(server.base_url, "status", "j", max_retries=0))
    if via_lean[0] == "ok" and "nan" in answer:
        # NaN != NaN: compare the rest, and that NaN came through on both.
        assert math.isnan(via_lean[1].output[0]) and math.isnan(via_httpx[1].output[0])
        assert via_lean[1].output[1] == via_httpx[1].output[1] == 123456789012345678901234
    else:
        assert via_lean == via_httpx
    assert server.seen[-1]["method"] == "GET"


def test_stream_and_health_answers_match_too(server):
    """/stream chunks and /health counters read the same through the lean path."""
    server.answer = (200, JSON, b'{"status": "IN_PROGRESS", "stream": [{"output": "a"}, {"output": "b"}]}')
    assert lean(server.base_url, "stream", "j", kwargs={"wait_ms": 1000}) == through_httpx(
        server.base_url, "stream", "j", kwargs={"wait_ms": 1000}
    )
    server.answer = (200, JSON, b'{"jobs": {"inQueue": 3, "completed": 2}, "workers": {"idle": 1}}')
    assert lean(server.base_url, "health") == through_httpx(server.base_url, "health")


def test_gets_skip_httpx_and_posts_still_use_it(server):
    """httpx's request hook sees the /cancel POST but neither the /status nor the /stream GET."""
    server.answer = ANSWERS["queued"]
    hooks = []

    async def main():
        async with runpod.make_async_http() as http:
            http.event_hooks["request"].append(lambda request: _record(hooks, request))
            client = runpod.AsyncRunPodClient("ep", KEY, base_url=server.base_url, http=http)
            await client.status("j")
            await client.cancel("j")

    asyncio.run(main())
    assert hooks == ["POST"]
    assert [seen["method"] for seen in server.seen[-2:]] == ["GET", "POST"]


def test_the_wire_request_is_what_httpx_would_send(server):
    """Path with the id quoted, query string, bearer key, Accept and User-Agent arrive as on the httpx path."""
    server.answer = ANSWERS["queued"]
    lean(server.base_url, "status", "a/b?c", kwargs={"ttl_ms": 5000})
    through_httpx(server.base_url, "status", "a/b?c", kwargs={"ttl_ms": 5000})
    via_lean, via_httpx = server.seen[-2:]
    assert via_lean["path"] == via_httpx["path"] == "/v2/ep/status/a%2Fb%3Fc?ttl=5000"
    for name in ("Authorization", "Accept", "User-Agent"):
        assert via_lean["headers"][name] == via_httpx["headers"][name]
    assert via_lean["headers"]["Authorization"] == f"Bearer {KEY}"


def test_a_refused_connection_never_left():
    """Nothing listening: a transient error with request_sent False, retried by the client's policy."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(runpod.TransientError) as info:
        lean(f"http://127.0.0.1:{port}/v2", "status", "j", max_retries=0)
    assert info.value.request_sent is False and info.value.status_code is None
    assert KEY not in f"{info.value} {info.value!r}"


def test_a_malformed_base_url_is_a_bad_request():
    """A base URL aiohttp cannot use is refused as BadRequestError, as httpx's InvalidURL is."""
    with pytest.raises(runpod.BadRequestError):
        lean("http://[::1/v2", "status", "j", max_retries=0)


def test_each_attempt_takes_and_returns_a_limiter_slot(server):
    """Retries included, every attempt counts in the endpoint's window and none stays in flight."""
    server.answer = ANSWERS["503"]
    limiter = RateLimiter()

    async def main():
        async with runpod.make_async_http() as http:
            client = runpod.AsyncRunPodClient("ep", KEY, base_url=server.base_url, http=http, limiter=limiter)

            async def no_sleep(seconds):
                return None

            client._sleep = no_sleep
            with pytest.raises(runpod.TransientError):
                await client.status("j")
            return client.endpoint_key

    key = asyncio.run(main())
    bucket = limiter.bucket(key, "status")
    assert bucket.recent() == 4 and bucket.in_flight == 0


def test_the_lean_path_waits_for_the_window(server):
    """With one status call per 0.3 s window, the second GET waits for the window instead of going out."""
    server.answer = ANSWERS["queued"]
    limiter = RateLimiter(window=0.3)
    limiter.set_limit(endpoint_key(server.base_url, "ep"), "status", 1, None)

    async def main():
        async with runpod.make_async_http() as http:
            client = runpod.AsyncRunPodClient("ep", KEY, base_url=server.base_url, http=http, limiter=limiter)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await client.status("j")
            await client.status("j")
            return loop.time() - started

    assert asyncio.run(main()) >= 0.3 * 0.95


def test_logs_and_errors_never_hold_the_key(server, caplog):
    """At DEBUG for every logger, lean GETs that succeed, fail and echo the key log one line each and no secret."""
    for name in ("", "jobs.runpod", "httpx", "httpcore", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    server.answer = ANSWERS["queued"]
    lean(server.base_url, "status", "j")
    server.answer = (404, JSON, json.dumps({"error": "no job", "echo": f"Bearer {KEY}"}).encode())
    with pytest.raises(runpod.NotFoundError) as info:
        lean(server.base_url, "status", "j", max_retries=0)
    ours = [r.getMessage() for r in caplog.records if r.name == "jobs.runpod"]
    assert ours[0].startswith("status endpoint=ep job=j status=200 elapsed_ms=")
    assert ours[1].startswith("status endpoint=ep job=j status=404 elapsed_ms=")
    assert "[redacted]" in info.value.body
    for text in (caplog.text, str(info.value), repr(info.value), info.value.body):
        assert KEY not in text and "Bearer " + KEY[:8] not in text


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "b": [true, false, null], "c": "\\u00e9"}',
        b'{"x": NaN, "y": Infinity, "z": -Infinity}',
        b'{"big": 123456789012345678901234567890}',
        b'{"s": "\\udc00"}',
        '{"utf16": "é"}'.encode("utf-16"),
        b'\xef\xbb\xbf{"bom": 1}',
        b'{"dup": 1, "dup": 2}',
    ],
    ids=["plain", "nan", "bigint", "surrogate", "utf16", "bom", "duplicate keys"],
)
def test_answer_bodies_read_as_pythons_json_reads_them(body):
    """orjson with Python's json behind it reads every body exactly as json.loads does."""
    expected = json.loads(body)
    got = loads(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("body", [b"", b"<html>", b"{", b'{"a": 1} trailing'])
def test_bodies_python_refuses_are_refused(body):
    """A body json.loads refuses is a ValueError from loads too (the client turns it into BadResponseError)."""
    with pytest.raises(ValueError):
        loads(body)


def test_pools_share_one_verifying_tls_context():
    """Every pool verifies certificates and host names with one context, loaded once per process."""
    import ssl

    from jobs.runpod.transport import tls_context

    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert runpod.make_async_http()._aiohttp_transport.ssl_context is context
    with runpod.make_http() as http:
        assert http._transport._pool._ssl_context is context
