"""The error hierarchy, and how HTTP answers and transport failures map onto it.

Every error says which operation failed, the HTTP status (None when no answer came), the raw body (scrubbed of
secrets, truncated) and whether trying again later could help (`transient`). Messages never hold the API key
or s3Config values: the key is never formatted into anything, and known secret strings are cut from bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

BODY_LIMIT = 2000
MESSAGE_BODY_LIMIT = 200
REDACTED = "[redacted]"


class RunPodError(Exception):
    transient = False

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status_code: int | None = None,
        body: str | None = None,
        endpoint_id: str | None = None,
        job_id: str | None = None,
    ):
        super().__init__(message)
        self.operation = operation
        self.status_code = status_code
        self.body = truncate(body)
        self.endpoint_id = endpoint_id
        self.job_id = job_id


class AuthError(RunPodError):
    """401 or 403: the key is wrong, or not allowed on this endpoint."""


class NotFoundError(RunPodError):
    """404: an unknown endpoint, or a job RunPod no longer (or never) had."""


class RateLimitedError(RunPodError):
    """429. `retry_after` is the server's Retry-After in seconds, or None when it sent none."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PayloadTooLargeError(RunPodError):
    """The body is over the operation's limit: raised before sending, or when RunPod answers 413."""

    def __init__(self, size: int, limit: int, *, operation: str = "", message: str | None = None, **kwargs):
        message = message or f"{operation or 'request'}: the body is {size} bytes, over the {limit}-byte limit"
        super().__init__(message, operation=operation, **kwargs)
        self.size = size
        self.limit = limit


class BadRequestError(RunPodError):
    """Any other 4xx, or a request we refused to build; sending it again will not help."""


class TransientError(RunPodError):
    """Timeouts, connection failures, 5xx and dropped keep-alive connections.

    `request_sent` is False only when the request provably never left (no connection was made), which is what
    makes resending a /run safe.
    """

    transient = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs):
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class BadResponseError(RunPodError):
    """A 2xx (or unexpected) answer whose body is not the JSON we expect; `body` keeps what came."""


def truncate(text: str | None, limit: int = BODY_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def scrub(text: str, secrets) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def error_for_status(status: int, text: str, *, operation: str, headers=None, payload=(0, 0), **context):
    """The error for a non-2xx answer (text already scrubbed); `payload` is the (size, limit) of what we sent."""
    snippet = " ".join(text[:MESSAGE_BODY_LIMIT].split())
    where = _where(operation, context)
    message = f"{where}: HTTP {status}" + (f" {snippet}" if snippet else "")
    common = {"operation": operation, "status_code": status, "body": text, **context}
    if status in (401, 403):
        return AuthError(message, **common)
    if status == 404:
        return NotFoundError(message, **common)
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        return RateLimitedError(message, retry_after=retry_after, **common)
    if status == 413:
        return PayloadTooLargeError(*payload, message=message, **common)
    if status == 408 or status >= 500:
        return TransientError(message, **common)
    if 400 <= status < 500:
        return BadRequestError(message, **common)
    return BadResponseError(message, **common)


def error_for_exception(exc: Exception, *, operation: str, **context) -> RunPodError:
    """The error for a request that got no usable answer."""
    import aiohttp

    where = _where(operation, context)
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError | aiohttp.InvalidURL):
        return BadRequestError(f"{where}: cannot send ({name})", operation=operation, **context)
    if isinstance(exc, httpx.DecodingError):
        return BadResponseError(f"{where}: undecodable answer ({name})", operation=operation, **context)
    sent = not never_left(exc)
    detail = "no connection" if not sent else "no answer"
    return TransientError(f"{where}: {detail} ({name})", operation=operation, request_sent=sent, **context)


def never_left(exc: Exception) -> bool:
    """True when the request provably did not reach the server: it never got a connection.

    httpx-aiohttp maps every aiohttp connection error, including a server dropping an open connection
    mid-request, to httpx.ConnectTimeout, so for that transport the aiohttp cause decides; the async client's
    lean GETs raise aiohttp's errors themselves.
    """
    import aiohttp

    never_connected = aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
    if isinstance(exc, never_connected):
        return True
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    cause = exc.__cause__
    if cause is None or not type(cause).__module__.startswith("aiohttp"):
        return True
    return isinstance(cause, never_connected)


def _where(operation: str, context: dict) -> str:
    parts = [operation or "request"]
    if context.get("endpoint_id"):
        parts.append(f"endpoint {context['endpoint_id']}")
    if context.get("job_id"):
        parts.append(f"job {context['job_id']}")
    return " ".join(parts)
