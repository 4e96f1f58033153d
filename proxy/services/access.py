"""Who is calling and what they may do: a personal API token as the Bearer key, roles as on the pages.

RunPod answers a missing or wrong key with 401, an unknown endpoint with 404, and a read-only key used for a
write with 401 Unauthorized too; the proxy answers the same, so RunPod's clients report each as they would.

Every proxied call needs the caller and the endpoint, and both change rarely, so each process keeps what it read
for PROXY_LOOKUP_CACHE_SECONDS (0 turns this off): a script polling /status costs one budget statement and one
job read instead of five queries. Saving a token, user, group or endpoint in this process forgets everything at
once; another process sees a revoked token, a deactivated user or a disabled endpoint within that many seconds.
"""

import hashlib
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone

from jobs.models import Endpoint
from proxy.errors import ProxyError

# What a Viewer's token may call; everything else (run, runsync, cancel, retry, purge-queue) needs an Operator.
READ_OPERATIONS = frozenset({"status", "status-sync", "stream", "health"})
OPERATE_PERMISSION = "jobs.operate_job"
# Past this many remembered tokens or endpoints a process starts again from empty (only live keys are kept).
CACHE_MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Caller:
    """The user behind a token, and whether that user may act (run, cancel, retry, purge) or only read."""

    user: object
    may_operate: bool


class _Lookups:
    """A small per-process memory of recent lookups, each kept until its own deadline (monotonic seconds)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict = {}

    def get(self, key):
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key, value, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= CACHE_MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_callers = _Lookups()
_endpoints = _Lookups()


def lookups_forget(**_) -> None:
    """Forget every remembered caller and endpoint (connected to the models' save and delete signals)."""
    _callers.clear()
    _endpoints.clear()


def bearer_key(header: str) -> str:
    """The key of an `Authorization: Bearer <key>` header (a bare key is accepted too, as RunPod does)."""
    scheme, _, rest = (header or "").strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else scheme


def caller_authenticate(header: str) -> Caller:
    """The active user owning the token in the header, and their role; ProxyError 401 otherwise."""
    from api.tokens import token_authenticate

    key = bearer_key(header)
    if not key:
        raise ProxyError(401, "Unauthorized: missing or invalid API key")
    # Remembered under the key's hash, so raw tokens are not kept in memory longer than the request.
    cache_key = hashlib.sha256(key.encode()).digest()
    caller = _callers.get(cache_key)
    if caller is not None:
        return caller
    token = token_authenticate(key)
    user = getattr(token, "user", None)
    if user is None or not user.is_active:
        raise ProxyError(401, "Unauthorized: missing or invalid API key")
    caller = Caller(user=user, may_operate=may_operate(user))
    ttl = settings.PROXY_LOOKUP_CACHE_SECONDS
    if token.expires_at is not None:
        ttl = min(ttl, (token.expires_at - timezone.now()).total_seconds())
    _callers.put(cache_key, caller, ttl)
    return caller


def endpoint_for(runpod_id: str) -> Endpoint:
    """The enabled endpoint registered here under this RunPod id; ProxyError 404 otherwise.

    The same id behind two base URLs would be two endpoints; the proxy serves the oldest, which is the one the
    admin registered first. The row is shared by the process's threads until it is forgotten: read it, never
    change it (the poller's status_calls on it are read fresh by the budget, not from here).
    """
    endpoint = _endpoints.get(runpod_id)
    if endpoint is not None:
        return endpoint
    endpoint = Endpoint.objects.filter(Q(runpod_id=runpod_id) & Q(enabled=True)).order_by("pk").first()
    if endpoint is None:
        raise ProxyError(404, f"endpoint {runpod_id} not found")
    _endpoints.put(runpod_id, endpoint, settings.PROXY_LOOKUP_CACHE_SECONDS)
    return endpoint


def may_operate(user) -> bool:
    """user.has_perm("jobs.operate_job") in one query (has_perm loads every permission of the user and groups)."""
    if user.is_superuser:
        return True
    app_label, codename = OPERATE_PERMISSION.split(".")
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


def caller_check_role(caller: Caller, operation: str) -> None:
    """Viewers read (status, stream, health); Operators and Admins also act. 401 like a read-only RunPod key."""
    if operation in READ_OPERATIONS or caller.may_operate:
        return
    raise ProxyError(401, f"Unauthorized: this token may read status, stream and health only, not /{operation}")
