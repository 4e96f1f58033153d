"""The audit trail: who did what, when, and how it went, newest first with keyset pages."""

from django.views.decorators.http import require_GET

from dashboard.forms import AuditFilterForm
from jobs import selectors

from .common import render_page

PAGE_SIZE = 50


@require_GET
def audit_list(request):
    form = AuditFilterForm(
        request.GET or None, users=selectors.users_for_filter(), endpoints=selectors.endpoint_options()
    )
    after = selectors.Cursor.decode(request.GET.get("after"))
    before = selectors.Cursor.decode(request.GET.get("before"))
    entries, older, newer = selectors.audit_list(form.filters(), after=after, before=before, limit=PAGE_SIZE)
    context = {"form": form, "entries": entries, "older": older, "newer": newer}
    return render_page(request, "dashboard/audit.html", context, partial="results")
