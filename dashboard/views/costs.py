"""Estimated costs: the Cost page (per endpoint, user and day over a window), the jobs list's filter total, and an
endpoint's price, which only admins set."""

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import charts
from dashboard.forms import JobFilterForm
from jobs import selectors, services
from jobs.models import Endpoint

from .common import client_ip, forbidden, render_page, wants_partial
from .context import can_set_price, price_context
from .jobs import job_list

DEFAULT_COST_WINDOW = "30d"
PRICE_TEMPLATE = "dashboard/endpoint_price.html"
ADMINS_ONLY = "Only admins set an endpoint's price: ask one to add you to the Admins group."


def _jobs_link(since, until, **filters) -> str:
    """The jobs list showing the same jobs as a row of the Cost page (its filter total matches the row)."""
    local = "%Y-%m-%dT%H:%M"
    query = {
        **{key: value for key, value in filters.items() if value},
        "range": "custom",
        "since": timezone.localtime(since).strftime(local),
        "until": timezone.localtime(until).strftime(local),
    }
    return f"{reverse('job_list')}?{urlencode(query)}"


def _links(summary):
    since, until = summary.since, summary.until
    for line in summary.endpoints:
        line.link = _jobs_link(since, until, endpoint=line.key)
    for line in summary.users:
        line.link = _jobs_link(since, until, by=line.label) if line.label else ""
    tz = timezone.get_current_timezone()
    for line in summary.days:
        start = datetime.combine(line.key, time.min, tzinfo=tz)
        line.link = _jobs_link(start, start + timedelta(days=1))


@require_GET
def cost_page(request):
    window = request.GET.get("window", DEFAULT_COST_WINDOW)
    window = window if window in selectors.COST_WINDOWS else DEFAULT_COST_WINDOW
    now = timezone.now()
    since, until = selectors.cost_window(window, now)
    summary = selectors.cost_summary(since=since, until=until, now=now)
    _links(summary)
    context = {
        "summary": summary,
        "window": window,
        "windows": list(selectors.COST_WINDOWS),
        "chart": charts.cost_chart(summary),
        "now": now,
        "last_day": until - timedelta(days=1),
    }
    return render_page(request, "dashboard/costs.html", context, partial="report")


@require_GET
def job_cost_total_hx(request):
    """The estimated cost of every job the jobs list's filters match, loaded after the list itself."""
    if not wants_partial(request):
        return job_list(request)  # a deep link or reload gets the list the total belongs to
    form = JobFilterForm(request.GET or None, users=selectors.users_for_filter())
    filters = form.filters()
    context = {"searching": bool(filters.q)}
    if not filters.q:
        context["total"] = selectors.filter_cost_total(filters)
    return render_page(request, "dashboard/costs.html", context, partial="filter_total")


@require_http_methods(["GET", "POST"])
def endpoint_price(request, pk):
    """An admin sets or clears the endpoint's price per second (anyone else is refused with 403, and a POST is
    audited as denied). The form is part of the endpoint's page; this page alone serves it without JavaScript."""
    try:
        endpoint = selectors.endpoint_get(pk)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None
    if request.method == "GET":
        return render_page(request, PRICE_TEMPLATE, price_context(endpoint, request.user), partial="price")
    if not can_set_price(request.user):
        services.audit_record(
            action="endpoint_change",
            user=request.user,
            endpoint=endpoint,
            outcome="denied",
            message=f"Setting the price of {endpoint.name} refused: the user is not an admin",
            remote_addr=client_ip(request),
        )
        return forbidden(request, ADMINS_ONLY)
    typed = request.POST.get("price_per_second", "")
    try:
        price = services.price_parse(typed)
    except services.InputError as exc:
        context = price_context(endpoint, request.user, price_error=str(exc), typed=typed)
        return render_page(request, PRICE_TEMPLATE, context, partial="price", status=422)
    changed = services.endpoint_price_set(
        endpoint=endpoint, price=price, user=request.user, remote_addr=client_ip(request)
    )
    notice = "Price saved." if changed else "The price was already that."
    return render_page(
        request, PRICE_TEMPLATE, price_context(endpoint, request.user, price_notice=notice), partial="price"
    )
