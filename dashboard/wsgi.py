"""The WSGI entry point: the site, and RunPod's endpoint API under /v2/ through a shorter middleware chain.

/v2/ callers are scripts sending a personal API token; each proxy view authenticates the call itself and is
CSRF-exempt and outside login, so sessions, CSRF, auth, messages, clickjacking, htmx and axes would only spend
CPU on every call (PROXY_MIDDLEWARE in settings lists what /v2/ keeps).
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
site = get_wsgi_application()


def handler_with(middleware) -> WSGIHandler:
    """A second handler whose chain is `middleware`: Django builds a handler's chain from settings when it is made."""
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = middleware
    try:
        return WSGIHandler()
    finally:
        settings.MIDDLEWARE = full


proxy = handler_with(settings.PROXY_MIDDLEWARE)


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith("/v2/"):
        return proxy(environ, start_response)
    return site(environ, start_response)
