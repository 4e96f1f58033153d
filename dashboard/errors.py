"""The 500 handler: an unreachable database is a 503 with a plain page (and Retry-After), never a traceback.

Django turns an exception into a response right around the layer that raised it, so a middleware cannot catch
one raised in the session or auth middleware; handler500 sees every one of them.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults

# Connection refused, dropped or timed out; other database errors (integrity, data) are bugs and stay 500s.
OUTAGE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 10


def server_error(request):
    if isinstance(sys.exception(), OUTAGE_ERRORS):
        body = loader.get_template("503.html").render()
        return HttpResponse(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return defaults.server_error(request)
