"""The HTTP pools the clients send through.

The async pool runs httpx's API over aiohttp (`httpx_aiohttp.AiohttpTransport`): httpx's own async pool
(httpcore) falls to a few hundred requests per second once a few dozen are in flight, while aiohttp's
connector keeps up with hundreds; docs/benchmarks.md ("Client transport") has the figures and the command.

The same aiohttp session also carries the async client's GETs (/status, /stream, /health) without httpx on top:
building and reading an httpx request cost the poller about three times the CPU of the GET itself
(docs/architecture.md, "The poller's status path"). POSTs stay on httpx.
"""

from __future__ import annotations

import functools
import ssl

import aiohttp
import httpx

DEFAULT_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0
# Sized for the documented 400 status requests at once on one endpoint.
ASYNC_MAX_CONNECTIONS = 400
SYNC_MAX_CONNECTIONS = 20
# Shorter than the 5 s idle timeout of common servers (uvicorn, many proxies), so we drop an idle connection
# before the server does, rather than racing it with a request that then fails as "disconnected".
KEEPALIVE_EXPIRY = 4.0
USER_AGENT = "runpod-dashboard/0.1"


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once per process.

    Loading the CA bundle costs about 40 ms of CPU, and a pool used to load it every time it was made: the poller
    makes one per round (every tick) and each action's sync client one per request.
    """
    return httpx.create_ssl_context()


def _timeout(timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))


class AsyncHTTP(httpx.AsyncClient):
    """An httpx.AsyncClient on aiohttp that lends its aiohttp session to the async client's lean GET path."""

    def __init__(self, *, aiohttp_transport, **options):
        super().__init__(transport=aiohttp_transport, **options)
        self._aiohttp_transport = aiohttp_transport

    def aiohttp_session(self) -> aiohttp.ClientSession:
        """The transport's session (made now if no request has made it yet), so both paths share one pool."""
        transport = self._aiohttp_transport
        if not isinstance(transport.client, aiohttp.ClientSession):
            transport.client = transport.get_client()
        return transport.client


def make_async_http(max_connections: int = ASYNC_MAX_CONNECTIONS, timeout: float = DEFAULT_TIMEOUT) -> AsyncHTTP:
    """An httpx.AsyncClient on aiohttp, for hundreds of requests in flight; share one per event loop.

    The aiohttp session is made on first use, inside the running loop, and belongs to that loop: close the
    client (`await http.aclose()`) before the loop ends and make a new one for the next loop.
    """
    from httpx_aiohttp import AiohttpTransport

    limits = _limits(max_connections)
    return AsyncHTTP(
        aiohttp_transport=AiohttpTransport(limits=limits, verify=tls_context()),
        limits=limits,
        timeout=_timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def make_http(max_connections: int = SYNC_MAX_CONNECTIONS, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A plain httpx.Client with a sized pool, for web requests, tasks and threads."""
    return httpx.Client(
        verify=tls_context(),
        limits=_limits(max_connections),
        timeout=_timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )
