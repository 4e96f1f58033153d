"""URLs of the API app: /api/v1/ (routes, schema, docs), the token page and /metrics."""

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from . import views
from .api import api


def _outside_login(patterns):
    """The API answers 401 in JSON itself; the site's login redirect must not catch its routes first."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            _outside_login(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            entry.callback = login_not_required(entry.callback)
    return patterns


# Not unpacked into module names: include() would read a module-level app_name as this whole urlconf's namespace.
_api_urls = api.urls
urlpatterns = [
    path("api/v1/", include((_outside_login(_api_urls[0]), _api_urls[1]), namespace=_api_urls[2])),
    path("api/tokens/", views.token_list, name="api_tokens"),
    path("api/tokens/<int:pk>/revoke/", views.token_revoke, name="api_token_revoke"),
    path("metrics", views.metrics, name="metrics"),
]
