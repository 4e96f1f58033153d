"""RunPod's endpoint API (`/v2/<endpoint id>/...`), answered by the dashboard: parse, call a proxy service, answer.

Outside login and CSRF (callers are scripts with a personal API token as the Bearer key); every refusal is
RunPod's error shape, `{"error": "..."}`, with RunPod's status code.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import runpod
from proxy import services
from proxy.errors import ProxyError

# A refused oversize body is still read (and thrown away) up to this size, so the caller's client sees our 413
# rather than a connection reset mid-upload; beyond it the connection is simply answered and closed.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
SIZE_LIMITS = {"run": runpod.RUN_MAX_BYTES, "runsync": runpod.RUNSYNC_MAX_BYTES}


def _answer(request, endpoint_id, operation, handler):
    """Authenticate, find the endpoint, check the role, then run the handler; ProxyError becomes the answer."""
    try:
        caller = services.caller_authenticate(request.headers.get("Authorization", ""))
        endpoint = services.endpoint_for(endpoint_id)
        services.caller_check_role(caller, operation)
        data = handler(endpoint, caller.user)
    except ProxyError as exc:
        response = JsonResponse(exc.body, status=exc.status)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    return JsonResponse(data, safe=False)


def _body(request, operation) -> bytes:
    """The request body, at most the operation's limit; an oversize one is drained and refused with 413."""
    limit = SIZE_LIMITS[operation]
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        _drain(request)
        raise ProxyError(413, f"payload too large: {declared} bytes, the limit is {limit}")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        _drain(request)
        raise ProxyError(413, f"payload too large: over {limit} bytes, the limit is {limit}")
    return raw


def _drain(request) -> None:
    total = 0
    while total < DRAIN_MAX_BYTES:
        part = request.read(1024 * 1024)
        if not part:
            return
        total += len(part)


def _remote_addr(request):
    return request.META.get("REMOTE_ADDR") or None


def _submit(request, endpoint_id, mode):
    def handler(endpoint, user):
        return services.proxy_submit(
            endpoint=endpoint,
            user=user,
            raw=_body(request, mode),
            mode=mode,
            wait=request.GET.get("wait"),
            remote_addr=_remote_addr(request),
        )

    return _answer(request, endpoint_id, mode, handler)


@csrf_exempt
@login_not_required
@require_POST
def run(request, endpoint_id):
    return _submit(request, endpoint_id, "run")


@csrf_exempt
@login_not_required
@require_POST
def runsync(request, endpoint_id):
    return _submit(request, endpoint_id, "runsync")


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def status(request, endpoint_id, job_id):
    ttl = request.GET.get("ttl")
    return _answer(
        request, endpoint_id, "status", lambda ep, user: services.proxy_status(endpoint=ep, job_id=job_id, ttl=ttl)
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def status_sync(request, endpoint_id, job_id):
    wait = request.GET.get("wait")
    return _answer(
        request,
        endpoint_id,
        "status-sync",
        lambda ep, user: services.proxy_status_sync(endpoint=ep, job_id=job_id, wait=wait),
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def stream(request, endpoint_id, job_id):
    wait = request.GET.get("wait")
    return _answer(
        request, endpoint_id, "stream", lambda ep, user: services.proxy_stream(endpoint=ep, job_id=job_id, wait=wait)
    )


@csrf_exempt
@login_not_required
@require_POST
def cancel(request, endpoint_id, job_id):
    return _answer(
        request,
        endpoint_id,
        "cancel",
        lambda ep, user: services.proxy_cancel(
            endpoint=ep, user=user, job_id=job_id, remote_addr=_remote_addr(request)
        ),
    )


@csrf_exempt
@login_not_required
@require_POST
def retry(request, endpoint_id, job_id):
    return _answer(
        request,
        endpoint_id,
        "retry",
        lambda ep, user: services.proxy_retry(endpoint=ep, user=user, job_id=job_id, remote_addr=_remote_addr(request)),
    )


@csrf_exempt
@login_not_required
@require_GET
def health(request, endpoint_id):
    return _answer(request, endpoint_id, "health", lambda ep, user: services.proxy_health(endpoint=ep))


@csrf_exempt
@login_not_required
@require_POST
def purge_queue(request, endpoint_id):
    return _answer(
        request,
        endpoint_id,
        "purge-queue",
        lambda ep, user: services.proxy_purge(endpoint=ep, user=user, remote_addr=_remote_addr(request)),
    )
