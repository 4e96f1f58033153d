"""The RunPod client's error mapping and retry policy, sync and async, against respx-mocked answers."""

import asyncio
import email.utils
import time

import httpx
import pytest
import respx

from jobs import runpod
from jobs.runpod import RateLimiter, RetryPolicy

BASE = "https://rp.test/v2"
KEY = "rpa_TESTKEY_0123456789abcdef"
STATUS = {"id": "job-1", "status": "IN_PROGRESS"}


class Driver:
    """Calls a client's methods the same way whether it is sync or async, and records backoff sleeps."""

    def __init__(self, is_async: bool, **options):
        options.setdefault("limiter", RateLimiter.unlimited())
        self.sleeps = []
        if is_async:
            self.client = runpod.AsyncRunPodClient("ep", KEY, base_url=BASE, http=httpx.AsyncClient(), **options)

            async def sleep(seconds):
                self.sleeps.append(seconds)

        else:
            self.client = runpod.RunPodClient("ep", KEY, base_url=BASE, **options)
            sleep = self.sleeps.append
        self.client._sleep = sleep
        self.is_async = is_async

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if not self.is_async:
            return method
        return lambda *args, **kwargs: asyncio.run(method(*args, **kwargs))


@pytest.fixture(params=["sync", "async"])
def make_client(request):
    def make(**options):
        return Driver(request.param == "async", **options)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def api():
    with respx.mock(base_url=f"{BASE}/ep", assert_all_called=False) as router:
        yield router


@pytest.mark.parametrize("code", [401, 403])
def test_refused_key_raises_auth_error_without_retrying(client, api, code):
    """A 401 or 403 becomes AuthError at once: a wrong key does not improve with retries."""
    route = api.get("/status/job-1").respond(code, text="Unauthorized")
    with pytest.raises(runpod.AuthError) as info:
        client.status("job-1")
    assert (info.value.status_code, info.value.transient, route.call_count) == (code, False, 1)
    assert info.value.body == "Unauthorized"


def test_unknown_job_raises_not_found_without_retrying(client, api):
    """A 404 becomes NotFoundError, permanent, sent once."""
    route = api.get("/status/job-1").respond(404, json={"error": "job not found"})
    with pytest.raises(runpod.NotFoundError) as info:
        client.status("job-1")
    assert info.value.status_code == 404 and not info.value.transient and route.call_count == 1
    assert "job not found" in info.value.body and "job-1" in str(info.value)


def test_rate_limit_waits_for_retry_after_then_gives_up(client, api):
    """A 429 with Retry-After is retried after exactly that many seconds, then raised with retry_after set."""
    route = api.get("/status/job-1").respond(429, headers={"Retry-After": "7"})
    with pytest.raises(runpod.RateLimitedError) as info:
        client.status("job-1")
    assert info.value.retry_after == 7 and info.value.transient
    assert client.sleeps == [7, 7, 7] and route.call_count == 4


def test_rate_limit_accepts_an_http_date_retry_after(client, api):
    """Retry-After may be an HTTP date; it becomes seconds from now."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api.get("/health").respond(429, headers={"Retry-After": when})
    with pytest.raises(runpod.RateLimitedError) as info:
        client.health()
    assert 25 <= info.value.retry_after <= 31


def test_rate_limit_without_retry_after_backs_off_with_jitter(client, api):
    """Without Retry-After a 429 is retried with full-jitter exponential backoff (0.25 s base)."""
    api.get("/health").respond(429)
    with pytest.raises(runpod.RateLimitedError) as info:
        client.health()
    assert info.value.retry_after is None
    assert len(client.sleeps) == 3
    assert all(0 <= slept <= bound for slept, bound in zip(client.sleeps, [0.25, 0.5, 1.0], strict=True))


def test_long_retry_after_is_capped(client, api):
    """A Retry-After of an hour is honoured only up to the policy's cap."""
    api.get("/health").respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(runpod.RateLimitedError) as info:
        client.health()
    assert info.value.retry_after == 3600 and client.sleeps == [60.0, 60.0, 60.0]


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors_are_transient_and_retried_for_reads(client, api, code):
    """5xx answers are transient; a status read is retried up to max_retries and keeps the last body."""
    route = api.get("/status/job-1").respond(code, text="upstream trouble")
    with pytest.raises(runpod.TransientError) as info:
        client.status("job-1")
    assert info.value.status_code == code and info.value.body == "upstream trouble"
    assert info.value.request_sent and route.call_count == 4


def test_read_recovers_after_a_server_error(client, api):
    """A status read that fails once with 503 returns the next answer."""
    api.get("/status/job-1").mock(side_effect=[httpx.Response(503), httpx.Response(200, json=STATUS)])
    assert client.status("job-1").status == "IN_PROGRESS"
    assert len(client.sleeps) == 1


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_transport_failures_are_transient(client, api, exc):
    """Timeouts, refused connections and dropped connections all become TransientError with no status code."""
    api.get("/status/job-1").mock(side_effect=exc("boom"))
    with pytest.raises(runpod.TransientError) as info:
        client.status("job-1")
    assert info.value.status_code is None and info.value.transient
    assert isinstance(info.value.__cause__, exc)


@pytest.mark.parametrize(
    ("exc", "sent"),
    [(httpx.ConnectError, False), (httpx.ConnectTimeout, False), (httpx.PoolTimeout, False), (httpx.ReadTimeout, True)],
)
def test_request_sent_is_false_only_when_no_connection_was_made(client, api, exc, sent):
    """request_sent tells a request that never left (safe to resend) from one that may have arrived."""
    api.get("/health").mock(side_effect=exc("boom"))
    with pytest.raises(runpod.TransientError) as info:
        client.health()
    assert info.value.request_sent is sent


def test_dropped_keep_alive_connection_is_retried_not_failed(client, api):
    """A server closing an idle keep-alive connection is transient: the read is sent again and succeeds."""
    api.get("/status/job-1").mock(side_effect=[httpx.RemoteProtocolError("closed"), httpx.Response(200, json=STATUS)])
    assert client.status("job-1").id == "job-1"


def test_non_json_success_is_a_bad_response_keeping_the_text(client, api):
    """A 200 whose body is not JSON raises BadResponseError with the raw text."""
    api.get("/health").respond(200, text="<html>gateway</html>")
    with pytest.raises(runpod.BadResponseError) as info:
        client.health()
    assert info.value.body == "<html>gateway</html>" and info.value.status_code == 200


def test_long_bodies_are_truncated_in_errors(client, api):
    """An error keeps at most 2000 characters of the body, and says how much was cut."""
    api.get("/health").respond(200, text="x" * 10_000)
    with pytest.raises(runpod.BadResponseError) as info:
        client.health()
    assert info.value.body.startswith("x" * 2000) and "8000 more characters" in info.value.body
    assert len(str(info.value)) < 400


def test_json_that_is_not_an_object_is_a_bad_response(client, api):
    """A 200 with a JSON list where a status object belongs is refused, not half-read."""
    api.get("/status/job-1").respond(200, json=["IN_QUEUE"])
    with pytest.raises(runpod.BadResponseError):
        client.status("job-1")


def test_other_client_errors_are_permanent(client, api):
    """A 400 becomes BadRequestError and is not retried."""
    route = api.post("/cancel/job-1").respond(400, json={"error": "bad"})
    with pytest.raises(runpod.BadRequestError) as info:
        client.cancel("job-1")
    assert not info.value.transient and route.call_count == 1


def test_server_413_is_payload_too_large(client, api):
    """RunPod refusing the size itself (413) is PayloadTooLargeError with the size we sent."""
    api.post("/run").respond(413, text="too big")
    with pytest.raises(runpod.PayloadTooLargeError) as info:
        client.run({"prompt": "hi"})
    assert info.value.size == runpod.payload_size({"input": {"prompt": "hi"}})
    assert info.value.limit == runpod.RUN_MAX_BYTES and info.value.status_code == 413


def test_oversize_run_is_refused_before_sending(client, api):
    """A /run body over 10 MB raises PayloadTooLargeError and no request leaves."""
    route = api.post("/run").respond(200, json=STATUS)
    big = "x" * runpod.RUN_MAX_BYTES
    with pytest.raises(runpod.PayloadTooLargeError) as info:
        client.run(big)
    assert info.value.size == runpod.payload_size({"input": big}) and info.value.limit == runpod.RUN_MAX_BYTES
    assert route.call_count == 0


def test_size_limit_counts_every_byte_of_the_body(client, api):
    """A body of exactly the limit is sent; one byte more is refused; options count towards the size."""
    route = api.post("/run").respond(200, json=STATUS)
    overhead = runpod.payload_size({"input": ""})
    client.run("x" * (runpod.RUN_MAX_BYTES - overhead))
    assert route.call_count == 1 and len(route.calls.last.request.content) == runpod.RUN_MAX_BYTES
    with pytest.raises(runpod.PayloadTooLargeError):
        client.run("x" * (runpod.RUN_MAX_BYTES - overhead), webhook="https://hook.test/x")
    assert route.call_count == 1


def test_runsync_allows_twenty_megabytes(client, api):
    """/runsync has its own 20 MB limit: 15 MB goes out, 21 MB does not."""
    route = api.post("/runsync").respond(200, json=STATUS)
    client.runsync("x" * (15 * 1024 * 1024))
    with pytest.raises(runpod.PayloadTooLargeError) as info:
        client.runsync("x" * (21 * 1024 * 1024))
    assert info.value.limit == runpod.RUNSYNC_MAX_BYTES and route.call_count == 1


def test_input_that_is_not_json_raises_bad_request_before_sending(client, api):
    """An input json cannot encode (a set, NaN) is refused as BadRequestError without a request."""
    route = api.post("/run").respond(200, json=STATUS)
    for bad in ({1, 2}, float("nan")):
        with pytest.raises(runpod.BadRequestError):
            client.run({"value": bad})
    assert route.call_count == 0


@pytest.mark.parametrize("operation", ["run", "runsync", "retry"])
@pytest.mark.parametrize(
    "failure", [httpx.Response(500), httpx.Response(503), httpx.ReadTimeout("t"), httpx.RemoteProtocolError("gone")]
)
def test_non_idempotent_calls_are_not_resent_after_they_may_have_arrived(client, api, operation, failure):
    """/run, /runsync and /retry are sent once when the failure leaves open whether RunPod got them."""
    route = api.post(path__regex=rf"/{operation}(/job-1)?$").mock(side_effect=[failure])
    with pytest.raises(runpod.TransientError):
        _call(client, operation)
    assert route.call_count == 1 and client.sleeps == []


@pytest.mark.parametrize("operation", ["run", "runsync", "retry"])
@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "1"})])
def test_non_idempotent_calls_are_resent_when_they_never_arrived(client, api, operation, failure):
    """A connect error or a 429 means RunPod did not take the request, so even /run is sent again."""
    ok = httpx.Response(200, json={"id": "job-1", "status": "IN_QUEUE"})
    route = api.post(path__regex=rf"/{operation}(/job-1)?$").mock(side_effect=[failure, ok])
    assert _call(client, operation).id == "job-1"
    assert route.call_count == 2 and len(client.sleeps) == 1


@pytest.mark.parametrize("operation", ["status", "status_sync", "stream", "health", "cancel", "purge_queue"])
def test_idempotent_calls_are_retried_after_timeouts(client, api, operation):
    """Reads and harmless actions are sent again after a timeout that may have reached RunPod."""
    ok = httpx.Response(200, json={"id": "job-1", "status": "CANCELLED", "removed": 0})
    route = api.route(url__regex=r"/(status|status-sync|stream|health|cancel|purge-queue)").mock(
        side_effect=[httpx.ReadTimeout("slow"), ok]
    )
    _call(client, operation)
    assert route.call_count == 2


def test_zero_max_retries_fails_fast(make_client, api):
    """max_retries=0 (the poller's setting) sends once and raises the first failure."""
    client = make_client(max_retries=0)
    route = api.get("/status/job-1").respond(503)
    with pytest.raises(runpod.TransientError):
        client.status("job-1")
    assert route.call_count == 1 and client.sleeps == []


def test_retry_backoff_grows_exponentially_up_to_the_cap():
    """Full jitter: each delay lies in [0, min(cap, base * 2**attempt)]."""
    policy = RetryPolicy(base=0.25, cap=8.0)
    error = runpod.TransientError("x")
    for attempt, bound in [(0, 0.25), (1, 0.5), (3, 2.0), (5, 8.0), (12, 8.0)]:
        delays = [policy.delay(attempt, error) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays) and max(delays) > bound / 2


def test_retry_policy_retries_only_transient_errors_and_rate_limits():
    """Auth, not-found, bad-request and bad-response errors are never retried, whatever the operation."""
    policy = RetryPolicy()
    status = runpod.calls.status_call("j")
    for error in (runpod.AuthError("x"), runpod.NotFoundError("x"), runpod.BadRequestError("x")):
        assert not policy.should_retry(status, error)
    assert not policy.should_retry(status, runpod.BadResponseError("x"))
    assert policy.should_retry(status, runpod.TransientError("x"))
    assert policy.should_retry(status, runpod.RateLimitedError("x"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [("12", 12.0), (" 3 ", 3.0), ("1.5", 1.5), ("soon", None), ("", None), (None, None), ("-5", 0.0)],
)
def test_retry_after_parsing(header, expected):
    """Retry-After as delta-seconds is read leniently; garbage is None; negatives are 0."""
    assert runpod.parse_retry_after(header) == expected


def test_retry_after_in_the_past_is_zero():
    """An HTTP-date already past means retry now."""
    assert runpod.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def _call(client, operation):
    if operation in ("run", "runsync"):
        return getattr(client, operation)({"prompt": "hi"})
    if operation in ("health", "purge_queue"):
        return getattr(client, operation)()
    return getattr(client, operation)("job-1")


def test_the_key_is_absent_from_client_repr_and_str(client):
    """repr() and str() of a client name the endpoint, never the key."""
    for text in (repr(client.client), str(client.client), repr(vars(client.client))):
        assert KEY not in text
    assert "ep" in repr(client.client)


def test_errors_never_carry_the_key_even_when_the_server_echoes_it(client, api):
    """An error body that repeats the Authorization header is scrubbed before it reaches the exception."""
    api.get("/health").respond(401, text=f"bad key: Bearer {KEY}")
    with pytest.raises(runpod.AuthError) as info:
        client.health()
    for text in (str(info.value), repr(info.value), info.value.body, repr(info.value.args)):
        assert KEY not in text
    assert info.value.body == "bad key: Bearer [redacted]"


def test_s3_config_never_appears_in_errors_or_logs(client, api, caplog):
    """s3Config values are sent, but kept out of exceptions and log lines."""
    caplog.set_level("DEBUG")
    s3 = {"accessId": "AKIA_TEST_ID_77", "accessSecret": "s3-secret-value-77", "bucketName": "bk", "endpointUrl": "u"}
    route = api.post("/run").respond(500, json={"echo": s3})
    with pytest.raises(runpod.TransientError) as info:
        client.run({"x": 1}, s3_config=s3)
    assert b"s3-secret-value-77" in route.calls.last.request.content
    for text in (str(info.value), repr(info.value), info.value.body, caplog.text):
        assert "s3-secret-value-77" not in text and "AKIA_TEST_ID_77" not in text and KEY not in text
