"""Rules every response and request body follows, whatever view (or other helper's page) it reaches.

- `RequestBodyLimitMiddleware` refuses a body by its Content-Length before anything reads it (the CSRF
  middleware reads a form POST's body first, and Django's own limit then answers a bare HTML 400 with an ERROR
  traceback in the log). The limit and the form of the answer come from REQUEST_BODY_LIMITS, by longest path
  prefix: a page answers what its view would, a JSON route a JSON 413.
- `ResponseHeadersMiddleware` adds the Content-Security-Policy and `Cache-Control: private, no-store` to every
  response a view makes (static files are served before it and keep their long cache).
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.module_loading import import_string
from django_htmx.middleware import HtmxDetails


def body_limit_for(path: str) -> tuple[int | None, str]:
    """(largest body in bytes, how to answer a bigger one) for a request path: the longest matching prefix wins.
    None: the view bounds its own bodies."""
    matches = [prefix for prefix in settings.REQUEST_BODY_LIMITS if path.startswith(prefix)]
    if not matches:
        return settings.REQUEST_BODY_DEFAULT_LIMIT, "html"
    return settings.REQUEST_BODY_LIMITS[max(matches, key=len)]


def too_large_message(limit: int) -> str:
    return f"The request body is larger than this server accepts here ({limit / 1_048_576:.1f} MB at most)."


def _answer(request, limit: int, responder: str):
    if responder == "json":
        return JsonResponse({"error": too_large_message(limit), "limit_bytes": limit}, status=413)
    if responder == "html":
        return HttpResponse(too_large_message(limit), status=413, content_type="text/plain; charset=utf-8")
    if not hasattr(request, "htmx"):
        request.htmx = HtmxDetails(request)  # the view's own answer tells htmx requests apart
    return import_string(responder)(request, limit)


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("The Content-Length header is not a number.", status=400, content_type="text/plain")
        limit, responder = body_limit_for(request.path_info)
        if limit is not None and length > limit:
            return _answer(request, limit, responder)
        return self.get_response(request)


def content_security_policy() -> str:
    policy = settings.CONTENT_SECURITY_POLICY
    if settings.OUTPUT_REMOTE_IMAGES:
        policy = policy.replace("img-src 'self' data:", "img-src 'self' data: https: http:")
    return policy


class ResponseHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        # Pages, partials and downloads show jobs, endpoints and audit trails: never kept by a browser or a shared
        # cache, so the back button after logout, or the next user of the machine, finds nothing.
        patch_cache_control(response, private=True, no_store=True)
        return response
