"""RunPodClient (sync) and AsyncRunPodClient: one typed method per operation, sharing everything but the I/O.

Each attempt takes a slot from the rate limiter, sends, and turns the answer into a result or an error;
failed attempts are retried per `RetryPolicy` (never a /run that may have arrived). One DEBUG line per attempt
records operation, endpoint, job, status and elapsed time, never a header or a body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import orjson
from yarl import URL

from .calls import (
    DEFAULT_BASE_URL,
    RUN_MAX_BYTES,
    RUNSYNC_MAX_BYTES,
    Call,
    Secret,
    endpoint_call,
    job_call,
    quote_segment,
    status_call,
    submit_body,
    submit_call,
    wait_call,
)
from .errors import (
    BadRequestError,
    BadResponseError,
    PayloadTooLargeError,
    RunPodError,
    error_for_exception,
    error_for_status,
    scrub,
)
from .limiter import RateLimiter, default_limiter, endpoint_key
from .results import (
    Health,
    JobState,
    PurgeResult,
    StreamBatch,
    parse_health,
    parse_job_state,
    parse_purge,
    parse_stream,
)
from .retry import RetryPolicy
from .transport import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, USER_AGENT, make_async_http, make_http

logger = logging.getLogger("jobs.runpod")

SIZE_LIMITS = {"run": RUN_MAX_BYTES, "runsync": RUNSYNC_MAX_BYTES}
# Failures below the HTTP layer. aiohttp errors that httpx-aiohttp does not translate arrive as themselves.
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, aiohttp.ClientError, OSError)
PARSERS = {
    "stream": parse_stream,
    "health": parse_health,
    "purge-queue": parse_purge,
}


# 19 digits in a row may be an integer orjson cannot hold (int64 ends at 9,223,372,036,854,775,807).
_LONG_NUMBER = re.compile(rb"\d{19}")


def loads(content: bytes) -> Any:
    """JSON from an answer body: orjson, several times faster, and Python's json for what orjson refuses.

    Python's parser reads what orjson refuses (NaN and Infinity, lone surrogates, UTF-16 bodies) and the integers
    orjson would read as floats (past 64 bits), so an answer reads exactly as it did before orjson; a body
    neither reads raises ValueError (or RecursionError when nested deeper than Python goes).
    """
    if _LONG_NUMBER.search(content):
        return json.loads(content)  # orjson would turn an integer past 64 bits into a float
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


class _ClientBase:
    def __init__(
        self,
        endpoint_id: str,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        limiter: RateLimiter | None = None,
        retry_policy: RetryPolicy | None = None,
    ):
        self.endpoint_id = endpoint_id
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.limiter = limiter if limiter is not None else default_limiter()
        self.retry_policy = retry_policy or RetryPolicy()
        self.endpoint_key = endpoint_key(self.base_url, endpoint_id)
        self._api_key = Secret(api_key)
        self._prefix = f"{self.base_url}/{quote_segment(endpoint_id)}"
        self._timeout = self._timeout_for(self.timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint_id={self.endpoint_id!r}, base_url={self.base_url!r})"

    def _submit(self, operation: str, input: Any, *, wait_ms=None, webhook=None, policy=None, s3_config=None) -> Call:
        """Build a /run or /runsync call, refusing an oversize body before anything is sent."""
        body = submit_body(input, webhook=webhook, policy=policy, s3_config=s3_config)
        try:
            call = submit_call(operation, body, wait_ms=wait_ms, s3_config=s3_config)
        except (TypeError, ValueError) as exc:
            message = f"{operation}: the body cannot be sent as JSON ({exc})"
            raise BadRequestError(message, operation=operation, endpoint_id=self.endpoint_id) from None
        size, limit = len(call.content), SIZE_LIMITS[operation]
        if size > limit:
            raise PayloadTooLargeError(size, limit, operation=operation, endpoint_id=self.endpoint_id)
        return call

    def _request(self, call: Call) -> dict:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        if call.content is not None:
            headers["Content-Type"] = "application/json"
        read = call.read_timeout(self.timeout)
        return {
            "method": call.method,
            "url": self._prefix + call.path,
            "params": call.params or None,
            "content": call.content,
            "headers": headers,
            "timeout": self._timeout if read == self.timeout else self._timeout_for(read),
        }

    def _timeout_for(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT), read=read)

    def _context(self, call: Call) -> dict:
        return {"operation": call.operation, "endpoint_id": self.endpoint_id, "job_id": call.job_id}

    def _finish(self, call: Call, response: httpx.Response, started: float, attempt: int):
        """Log the attempt, then the parsed result for a 2xx, or raise the matching error."""
        return self._answer(
            call, response.status_code, response.content, response.headers, lambda: response.text, started, attempt
        )

    def _answer(self, call: Call, status_code: int, content: bytes, headers, text, started: float, attempt: int):
        """The one judgement of an answer, whichever path brought it; `text()` decodes the body for errors."""
        self._log(call, status_code, started, attempt)
        if 200 <= status_code < 300:
            try:
                return self._parse(call, loads(content))
            except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
                raise BadResponseError(
                    f"{call.operation} endpoint {self.endpoint_id}: HTTP {status_code} with a non-JSON body",
                    status_code=status_code,
                    body=self._scrub(call, text()),
                    **self._context(call),
                ) from None
            except BadResponseError as error:
                error.status_code, error.endpoint_id, error.job_id = status_code, self.endpoint_id, call.job_id
                raise
        size = len(call.content or b"")
        raise error_for_status(
            status_code,
            self._scrub(call, text()),
            headers=headers,
            payload=(size, SIZE_LIMITS.get(call.operation, 0)),
            **self._context(call),
        )

    def _failed(self, call: Call, exc: Exception, started: float, attempt: int) -> RunPodError:
        self._log(call, type(exc).__name__, started, attempt)
        return error_for_exception(exc, **self._context(call))

    def _parse(self, call: Call, data: Any):
        parser = PARSERS.get(call.operation)
        if parser is not None:
            return parser(data, operation=call.operation)
        return parse_job_state(data, operation=call.operation, job_id=call.job_id)

    def _scrub(self, call: Call, text: str) -> str:
        return scrub(text, (self._api_key.reveal(), *call.secrets))

    def _retry_delay(self, call: Call, error: RunPodError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up and raise."""
        if attempt >= self.max_retries or not self.retry_policy.should_retry(call, error):
            return None
        delay = self.retry_policy.delay(attempt, error)
        logger.info(
            "%s endpoint=%s job=%s retry %d/%d in %.2f s after %s",
            call.operation,
            self.endpoint_id,
            call.job_id or "-",
            attempt + 1,
            self.max_retries,
            delay,
            type(error).__name__,
        )
        return delay

    def _log(self, call: Call, status, started: float, attempt: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s endpoint=%s job=%s status=%s elapsed_ms=%.0f attempt=%d",
                call.operation,
                self.endpoint_id,
                call.job_id or "-",
                status,
                (time.perf_counter() - started) * 1000,
                attempt + 1,
            )


class RunPodClient(_ClientBase):
    """The sync client, for web requests, tasks and threads. Pass `http` to share a pool (then it is not closed)."""

    def __init__(self, endpoint_id: str, api_key: str, *, http: httpx.Client | None = None, **options):
        super().__init__(endpoint_id, api_key, **options)
        self._owns_http = http is None
        self.http = http if http is not None else make_http(timeout=self.timeout)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> RunPodClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, input: Any, *, webhook=None, policy=None, s3_config=None) -> JobState:
        return self._execute(self._submit("run", input, webhook=webhook, policy=policy, s3_config=s3_config))

    def runsync(self, input: Any, *, wait_ms=None, webhook=None, policy=None, s3_config=None) -> JobState:
        call = self._submit("runsync", input, wait_ms=wait_ms, webhook=webhook, policy=policy, s3_config=s3_config)
        return self._execute(call)

    def status(self, job_id: str, *, ttl_ms: int | None = None) -> JobState:
        return self._execute(status_call(job_id, ttl_ms=ttl_ms))

    def status_sync(self, job_id: str, *, wait_ms: int | None = None) -> JobState:
        return self._execute(wait_call("status-sync", job_id, wait_ms=wait_ms))

    def stream(self, job_id: str, *, wait_ms: int | None = None) -> StreamBatch:
        return self._execute(wait_call("stream", job_id, wait_ms=wait_ms))

    def cancel(self, job_id: str) -> JobState:
        return self._execute(job_call("cancel", job_id, method="POST"))

    def retry(self, job_id: str) -> JobState:
        return self._execute(job_call("retry", job_id, method="POST"))

    def health(self) -> Health:
        return self._execute(endpoint_call("health", "GET"))

    def purge_queue(self) -> PurgeResult:
        return self._execute(endpoint_call("purge-queue", "POST"))

    def _execute(self, call: Call):
        attempt = 0
        while True:
            try:
                return self._attempt(call, attempt)
            except RunPodError as error:
                delay = self._retry_delay(call, error, attempt)
                if delay is None:
                    raise
            attempt += 1
            self._sleep(delay)

    def _attempt(self, call: Call, attempt: int):
        bucket = self.limiter.bucket(self.endpoint_key, call.operation)
        bucket.acquire()
        started = time.perf_counter()
        try:
            response = self.http.request(**self._request(call))
        except TRANSPORT_ERRORS as exc:
            raise self._failed(call, exc, started, attempt) from exc
        finally:
            bucket.release()
        return self._finish(call, response, started, attempt)

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AsyncRunPodClient(_ClientBase):
    """The asyncio client. Pass `http` (from make_async_http) to share one pool across endpoints' clients.

    With a pool from make_async_http, GETs (/status, /stream, /status-sync, /health) go straight to its aiohttp
    session: the same limiter slot, timeouts, headers and error mapping, without building an httpx request and
    response (docs/architecture.md, "The poller's status path"). Any other httpx.AsyncClient (a mock, a proxy
    set-up) carries every call itself.
    """

    def __init__(self, endpoint_id: str, api_key: str, *, http: httpx.AsyncClient | None = None, **options):
        super().__init__(endpoint_id, api_key, **options)
        self._owns_http = http is None
        self.http = http if http is not None else make_async_http(timeout=self.timeout)
        self._lean = getattr(self.http, "aiohttp_session", None)
        self._lean_timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncRunPodClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def run(self, input: Any, *, webhook=None, policy=None, s3_config=None) -> JobState:
        return await self._execute(self._submit("run", input, webhook=webhook, policy=policy, s3_config=s3_config))

    async def runsync(self, input: Any, *, wait_ms=None, webhook=None, policy=None, s3_config=None) -> JobState:
        call = self._submit("runsync", input, wait_ms=wait_ms, webhook=webhook, policy=policy, s3_config=s3_config)
        return await self._execute(call)

    async def status(self, job_id: str, *, ttl_ms: int | None = None) -> JobState:
        return await self._execute(status_call(job_id, ttl_ms=ttl_ms))

    async def status_sync(self, job_id: str, *, wait_ms: int | None = None) -> JobState:
        return await self._execute(wait_call("status-sync", job_id, wait_ms=wait_ms))

    async def stream(self, job_id: str, *, wait_ms: int | None = None) -> StreamBatch:
        return await self._execute(wait_call("stream", job_id, wait_ms=wait_ms))

    async def cancel(self, job_id: str) -> JobState:
        return await self._execute(job_call("cancel", job_id, method="POST"))

    async def retry(self, job_id: str) -> JobState:
        return await self._execute(job_call("retry", job_id, method="POST"))

    async def health(self) -> Health:
        return await self._execute(endpoint_call("health", "GET"))

    async def purge_queue(self) -> PurgeResult:
        return await self._execute(endpoint_call("purge-queue", "POST"))

    async def _execute(self, call: Call):
        attempt = 0
        while True:
            try:
                return await self._attempt(call, attempt)
            except RunPodError as error:
                delay = self._retry_delay(call, error, attempt)
                if delay is None:
                    raise
            attempt += 1
            await self._sleep(delay)

    async def _attempt(self, call: Call, attempt: int):
        if self._lean is not None and call.method == "GET":
            return await self._attempt_get(call, attempt)
        bucket = self.limiter.bucket(self.endpoint_key, call.operation)
        await bucket.acquire_async()
        started = time.perf_counter()
        try:
            response = await self.http.request(**self._request(call))
        except TRANSPORT_ERRORS as exc:
            raise self._failed(call, exc, started, attempt) from exc
        finally:
            bucket.release()
        return self._finish(call, response, started, attempt)

    async def _attempt_get(self, call: Call, attempt: int):
        """A GET on the pool's aiohttp session: what httpx would send, with the same timeouts and mapping."""
        url = self._prefix + call.path
        if call.params:
            url += "?" + urlencode(call.params)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        started = time.perf_counter()
        try:
            # The path's ids are quoted already (quote_segment); encoded=True keeps yarl from quoting them again.
            target = URL(url, encoded=True)
        except ValueError:
            raise self._failed(call, aiohttp.InvalidURL(url), started, attempt) from None
        bucket = self.limiter.bucket(self.endpoint_key, call.operation)
        await bucket.acquire_async()
        started = time.perf_counter()
        try:
            async with self._lean().get(
                target,
                headers=headers,
                timeout=self._lean_timeout(call.read_timeout(self.timeout)),
                allow_redirects=False,
            ) as response:
                content = await response.read()
                status_code, response_headers = response.status, response.headers
        except TRANSPORT_ERRORS as exc:
            raise self._failed(call, exc, started, attempt) from exc
        finally:
            bucket.release()
        return self._answer(
            call, status_code, content, response_headers, lambda: content.decode("utf-8", "replace"), started, attempt
        )

    def _lean_timeout(self, read: float) -> aiohttp.ClientTimeout:
        """httpx's timeouts in aiohttp's terms: `connect` covers the wait for a pooled connection (httpx's pool)."""
        timeout = self._lean_timeouts.get(read)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.timeout, sock_connect=min(self.timeout, CONNECT_TIMEOUT), sock_read=read
            )
            self._lean_timeouts[read] = timeout
        return timeout

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
