"""Who is calling: a personal API token (Authorization: Bearer) or the browser's session (with CSRF on writes),
and what their role lets them do."""

from ninja.security import HttpBearer, SessionAuth

from jobs import services

from .errors import ApiError
from .ratelimit import rate_limit_check
from .tokens import token_authenticate

OPERATE = "jobs.operate_job"
CHANGE_ENDPOINT = "jobs.change_endpoint"
REFUSED = "Your role can look but not act: ask an admin to add you to the Operators group."
ADMINS_ONLY = "Only admins change endpoint settings: ask one to add you to the Admins group."


class TokenAuth(HttpBearer):
    """The token's owner becomes request.user, with their role; request.api_token is the token."""

    def authenticate(self, request, token):
        found = token_authenticate(token)
        if found is None:
            return None
        request.user = found.user
        request.api_token = found
        rate_limit_check(f"token:{found.pk}")
        return found


class SessionUserAuth(SessionAuth):
    """The logged-in browser user (ninja checks CSRF on unsafe methods), limited per user like a token."""

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None:
            request.api_token = None
            rate_limit_check(f"user:{user.pk}")
        return user


auth = [TokenAuth(), SessionUserAuth()]


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def operator_required(request, action: str) -> None:
    """Only operators (and admins) act; anyone else gets 403, audited as denied, as on the pages."""
    if request.user.has_perm(OPERATE):
        return
    services.audit_record(
        action=action,
        user=request.user,
        outcome="denied",
        message=f"{request.method} {request.path} refused: the user may not {action}",
        remote_addr=client_ip(request),
    )
    raise ApiError(403, "forbidden", REFUSED)


def admin_required(request, action: str, endpoint=None) -> None:
    """Only admins change endpoints (their price included); anyone else gets 403, audited as denied."""
    if request.user.has_perm(CHANGE_ENDPOINT):
        return
    services.audit_record(
        action=action,
        user=request.user,
        endpoint=endpoint,
        outcome="denied",
        message=f"{request.method} {request.path} refused: the user is not an admin",
        remote_addr=client_ip(request),
    )
    raise ApiError(403, "forbidden", ADMINS_ONLY)
