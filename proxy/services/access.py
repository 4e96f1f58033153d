"""Who is calling and what they may do: a personal API token as the Bearer key, roles as on the pages.

RunPod answers a missing or wrong key with 401, an unknown endpoint with 404, and a read-only key used for a
write with 401 Unauthorized too; the proxy answers the same, so RunPod's clients report each as they would.
"""

from django.contrib.auth.models import Permission
from django.db.models import Q

from jobs.models import Endpoint
from proxy.errors import ProxyError

# What a Viewer's token may call; everything else (run, runsync, cancel, retry, purge-queue) needs an Operator.
READ_OPERATIONS = frozenset({"status", "status-sync", "stream", "health"})
OPERATE_PERMISSION = "jobs.operate_job"


def bearer_key(header: str) -> str:
    """The key of an `Authorization: Bearer <key>` header (a bare key is accepted too, as RunPod does)."""
    scheme, _, rest = (header or "").strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else scheme


def caller_authenticate(header: str):
    """The active user owning the token in the header; ProxyError 401 otherwise."""
    from api.tokens import token_authenticate

    key = bearer_key(header)
    token = token_authenticate(key) if key else None
    user = getattr(token, "user", None)
    if user is None or not user.is_active:
        raise ProxyError(401, "Unauthorized: missing or invalid API key")
    return user


def endpoint_for(runpod_id: str) -> Endpoint:
    """The enabled endpoint registered here under this RunPod id; ProxyError 404 otherwise.

    The same id behind two base URLs would be two endpoints; the proxy serves the oldest, which is the one the
    admin registered first.
    """
    endpoint = Endpoint.objects.filter(Q(runpod_id=runpod_id) & Q(enabled=True)).order_by("pk").first()
    if endpoint is None:
        raise ProxyError(404, f"endpoint {runpod_id} not found")
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


def caller_check_role(user, operation: str) -> None:
    """Viewers read (status, stream, health); Operators and Admins also act. 401 like a read-only RunPod key."""
    if operation in READ_OPERATIONS or may_operate(user):
        return
    raise ProxyError(401, f"Unauthorized: this token may read status, stream and health only, not /{operation}")
