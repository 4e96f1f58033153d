"""What every view shares: the operator check that answers 403, rendering a page or its partial, the client's
address for the audit trail."""

from functools import wraps

from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from dashboard.security import bounded, client_ip
from jobs import services

OPERATE = "jobs.operate_job"


def can_operate(user) -> bool:
    return user.is_authenticated and user.has_perm(OPERATE)


def wants_partial(request) -> bool:
    """An htmx request for a fragment; a history restore after a cache miss wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def redirect_page(request, url):
    """After an action: htmx follows a client-side redirect (a whole page, not a swap); a plain form post a 302."""
    return HttpResponseClientRedirect(url) if wants_partial(request) else redirect(url)


def render_page(request, template, context, *, partial=None, status=200):
    """The whole page, or only the named partial of it when htmx asks."""
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    return render(request, name, context, status=status)


def forbidden(request, message="Your role can look but not act: ask an admin to add you to the Operators group."):
    """The readable 403: a whole page, or a notice htmx puts in the flash area of the page."""
    context = {"message": message}
    if wants_partial(request):
        response = render(request, "dashboard/forbidden.html#notice", context, status=403)
        return reswap(retarget(response, "#flash"), "innerHTML")
    return render(request, "dashboard/forbidden.html", context, status=403)


def operator_required(action):
    """Only operators (and admins) pass; anyone else gets 403, and a refused POST is audited as denied."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if can_operate(request.user):
                return view(request, *args, **kwargs)
            if request.method == "POST":
                services.audit_record(
                    action=action,
                    user=request.user,
                    outcome="denied",
                    message=f"POST {bounded(request.path)} refused: the user may not {action}",
                    remote_addr=client_ip(request),
                )
            return forbidden(request)

        return wrapper

    return decorator
