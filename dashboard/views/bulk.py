"""Bulk actions over the jobs list's filter: the dry run and its confirmation, the live progress, the stop."""

from django.conf import settings
from django.http import Http404, QueryDict
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.forms import JobFilterForm
from jobs import selectors, services
from jobs.models import BulkAction
from jobs.selectors.bulk import bulk_progress, bulk_recent

from .common import client_ip, operator_required, redirect_page, render_page

# The list filter form's fields (an error group from the alerts page included), nothing else.
FILTER_KEYS = tuple(JobFilterForm.base_fields)
KINDS = BulkAction.Kind
PROGRESS_SECONDS = 1


def _filter_params(data) -> QueryDict:
    """Only the list's filter fields (not paging, the action or the CSRF token), in a stable order."""
    params = QueryDict(mutable=True)
    for key in FILTER_KEYS:
        value = data.get(key, "")
        if value:
            params[key] = value
    return params


def _kind(data) -> str:
    kind = data.get("kind", "")
    return kind if kind in KINDS.values else KINDS.CANCEL


def _context(params, kind, **extra) -> dict:
    form = JobFilterForm(params or None, users=selectors.users_for_filter())
    preview = services.bulk_preview(kind=kind, filters=form.filters())
    return {
        "params": params,
        "filter_query": params.urlencode(),
        "kind": kind,
        "kinds": KINDS.choices,
        "preview": preview,
        "threshold": settings.BULK_CONFIRM_THRESHOLD,
        "max_jobs": settings.BULK_MAX_JOBS,
        "needs_confirm": preview.total > settings.BULK_CONFIRM_THRESHOLD,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@operator_required("bulk")
def bulk_new(request):
    """GET: the dry run for the filter in the URL and the chosen action; POST: start it."""
    data = request.POST if request.method == "POST" else request.GET
    params, kind = _filter_params(data), _kind(data)
    if request.method == "GET":
        return render_page(request, "dashboard/bulk_new.html", _context(params, kind), partial="preview")
    form = JobFilterForm(params or None, users=selectors.users_for_filter())
    try:
        bulk = services.bulk_start(
            kind=kind,
            filters=form.filters(),
            filter_query=params.urlencode(),
            confirm=request.POST.get("confirm", ""),
            user=request.user,
            remote_addr=client_ip(request),
        )
    except services.InputError as exc:
        context = _context(params, kind, error=str(exc), confirm=request.POST.get("confirm", ""))
        return render_page(request, "dashboard/bulk_new.html", context, partial="preview", status=422)
    return redirect_page(request, bulk.get_absolute_url())


def _progress_or_404(pk):
    try:
        return bulk_progress(pk)
    except BulkAction.DoesNotExist:
        raise Http404("No such bulk action.") from None


def _detail_context(pk) -> dict:
    return {
        "progress": _progress_or_404(pk),
        "live_seconds": PROGRESS_SECONDS,
        "recent_batches": bulk_recent(exclude=pk),
    }


@require_GET
def bulk_detail(request, pk):
    """A batch's progress; the part refreshes itself while the batch runs."""
    return render_page(request, "dashboard/bulk.html", _detail_context(pk), partial="progress")


@require_POST
@operator_required("bulk")
def bulk_stop(request, pk):
    progress = _progress_or_404(pk)
    stopped = services.bulk_stop(bulk=progress.bulk, user=request.user, remote_addr=client_ip(request))
    notice = "Stopping after the job in hand." if stopped else "It had already ended."
    context = {**_detail_context(pk), "notice": notice}
    return render_page(request, "dashboard/bulk.html", context, partial="progress")
