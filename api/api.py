"""The JSON API at /api/v1/: django-ninja builds the OpenAPI schema from the typed routes and checks every input
against it; the routes only parse, call a selector or service, and serialise."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from ninja import NinjaAPI

from . import errors
from .auth import auth
from .routes import audit, bulk, costs, endpoints, jobs, views
from .tokens import token_authenticate

DESCRIPTION = """The RunPod job dashboard's data and actions for programs.

Authenticate with a personal API token (`Authorization: Bearer rpd_...`, made on the API tokens page) or, from the
browser, the session (with the CSRF header on writes). A token acts with its owner's role: Viewers read, Operators
also submit, track, cancel, retry, run again and purge; every action is audited as on the pages.

Errors are JSON `{"code", "message", "field"?}`. Lists are newest first with opaque keyset cursors (`next_cursor`).
Requests are limited per token; past the limit the answer is 429 with `Retry-After`.
"""


def docs_access(view):
    """The schema and its docs page: for a logged-in user, or a program with a valid token."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        if request.user.is_authenticated or (
            header[:7].lower() == "bearer " and token_authenticate(header[7:].strip()) is not None
        ):
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse(errors.body("unauthenticated", "Log in or send a valid API token."), status=401)
        return redirect_to_login(request.get_full_path())

    return wrapper


api = NinjaAPI(
    title="RunPod job dashboard API",
    version="1",
    description=DESCRIPTION,
    auth=auth,
    urls_namespace="api",
    docs_decorator=docs_access,
)
errors.install(api)
api.add_router("", endpoints.router)
api.add_router("", jobs.router)
api.add_router("", audit.router)
api.add_router("", bulk.router)
api.add_router("", costs.router)
api.add_router("", views.router)
