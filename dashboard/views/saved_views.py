"""Saved views: save the jobs page's filter by name, list, rename and delete views, and the nav's menu of them.

Opening a view is a plain link to the jobs page with its filter; the decisions (roles, names, limits, audit) are in
dashboard/saved_views.py, shared with the API.
"""

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard import saved_views
from dashboard.forms import RANGE_LABELS, SavedViewForm, SavedViewRenameForm
from jobs import selectors
from jobs.models import JobStatus

from .common import client_ip, forbidden, redirect_page, render_page, wants_partial
from .context import menu_context

TEMPLATE = "dashboard/saved_views.html"
STATUS_LABELS = {"active": "Active (not finished)", **dict(JobStatus.choices)}
# What the filter summary calls each field.
FIELD_LABELS = {
    "q": "search",
    "endpoint": "endpoint",
    "status": "status",
    "range": "created",
    "since": "from",
    "until": "to",
    "by": "by",
    "group": "error group",
}


def _summary(filters: dict, endpoint_names: dict) -> list[tuple[str, str]]:
    parts = []
    for name in saved_views.FILTER_FIELDS:
        if name in filters:
            value = filters[name]
            if name == "endpoint":
                value = endpoint_names.get(int(value), f"#{value}")
            elif name == "status":
                value = STATUS_LABELS.get(value, value)
            elif name == "range":
                value = RANGE_LABELS.get(value, value)
            parts.append((FIELD_LABELS[name], value))
    return parts


def _list_context(request, *, refused_rename=None) -> dict:
    """Every view the user sees, with its count and forms; refused_rename is (view id, bound form) to show again."""
    views = list(saved_views.views_visible(request.user).select_related("created_by"))
    counts = saved_views.views_active_counts(views)
    endpoint_names = dict(selectors.endpoint_options())
    rows = []
    for view in views:
        rename = refused_rename[1] if refused_rename and refused_rename[0] == view.pk else None
        rows.append(
            {
                "view": view,
                "count": counts.get(view.pk, 0),
                "url": saved_views.view_url(view),
                "summary": _summary(view.filters, endpoint_names),
                "may_change": saved_views.can_share(request.user) if view.is_team else True,
                "rename_form": rename or SavedViewRenameForm(initial={"name": view.name}, prefix=f"v{view.pk}"),
            }
        )
    return {"rows": rows, "can_share": saved_views.can_share(request.user)}


@require_GET
def saved_view_list(request):
    return render_page(request, TEMPLATE, _list_context(request))


@require_GET
def saved_views_menu_hx(request):
    """The nav's menu with fresh counts, fetched when it is opened (no timed polling for a menu)."""
    if not wants_partial(request):
        return saved_view_list(request)  # a deep link or reload gets the page the menu's views are managed on
    return render_page(request, TEMPLATE, menu_context(request), partial="menu_list")


@require_POST
def saved_view_create(request):
    form = SavedViewForm(request.POST)
    if form.is_valid():
        filters, _ = saved_views.filter_normalise(QueryDict(form.cleaned_data["query"]))
        try:
            view = saved_views.saved_view_create(
                user=request.user,
                name=form.cleaned_data["name"],
                filters=filters,
                team=form.cleaned_data["team"],
                remote_addr=client_ip(request),
            )
        except saved_views.SavedViewDenied as exc:
            return forbidden(request, str(exc))
        except saved_views.SavedViewError as exc:
            form.add_error(exc.field, str(exc))
        else:
            messages.success(request, f"Saved the view “{view.name}”{' for the team' if view.is_team else ''}.")
            return redirect_page(request, saved_views.view_url(view))
    context = {"save_form": form, "can_share": saved_views.can_share(request.user)}
    if wants_partial(request):
        return render_page(request, TEMPLATE, context, partial="save_form", status=422)
    return render_page(request, TEMPLATE, {**_list_context(request), **context, "save_failed": True}, status=422)


def _view_or_404(request, pk):
    view = saved_views.view_visible_or_none(request.user, pk)
    if view is None:
        raise Http404("No such saved view.")
    return view


@require_POST
def saved_view_rename(request, pk):
    view = _view_or_404(request, pk)
    form = SavedViewRenameForm(request.POST, prefix=f"v{view.pk}")
    if form.is_valid():
        try:
            saved_views.saved_view_rename(
                view=view, user=request.user, name=form.cleaned_data["name"], remote_addr=client_ip(request)
            )
        except saved_views.SavedViewDenied as exc:
            return forbidden(request, str(exc))
        except saved_views.SavedViewError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Renamed the view to “{view.name}”.")
            return redirect("saved_view_list")
    return render_page(request, TEMPLATE, _list_context(request, refused_rename=(view.pk, form)), status=422)


@require_POST
def saved_view_delete(request, pk):
    view = _view_or_404(request, pk)
    try:
        saved_views.saved_view_delete(view=view, user=request.user, remote_addr=client_ip(request))
    except saved_views.SavedViewDenied as exc:
        return forbidden(request, str(exc))
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect_page(request, reverse("saved_view_list"))
