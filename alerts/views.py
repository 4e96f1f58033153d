"""The Alerts and Failures pages, acknowledge and silence (Operators), the stall banner and /healthz."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from alerts import selectors, services
from alerts.forms import AcknowledgeForm, AlertFilterForm, FailureFilterForm, SilenceForm
from alerts.models import Alert
from dashboard.views.common import client_ip, operator_required, render_page
from jobs.models import Endpoint
from jobs.services import ActionError

REFRESH_SECONDS = 10


def _endpoints():
    return list(Endpoint.objects.order_by("name").only("pk", "name"))


def _alert_or_404(pk) -> Alert:
    try:
        return selectors.alert_detail(pk)
    except Alert.DoesNotExist:
        raise Http404("No such alert.") from None


@require_GET
def alert_list(request):
    form = AlertFilterForm(request.GET or None, endpoints=_endpoints())
    context = {
        "form": form,
        "firing": selectors.alerts_firing(),
        "history": selectors.alerts_history(form.filters()),
        "silences": selectors.silences_active(),
        "channels": selectors.channels_status(),
        "stall": services.polling_stall(),
        "silence_form": SilenceForm(),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_page(request, "alerts/alerts.html", context, partial="live")


@require_GET
def alert_detail(request, pk):
    alert = _alert_or_404(pk)
    context = {
        "alert": alert,
        "deliveries": selectors.alert_deliveries(alert),
        "silence_form": SilenceForm(),
        "ack_form": AcknowledgeForm(),
    }
    return render(request, "alerts/alert.html", context)


@require_POST
@operator_required("alert_ack")
def alert_acknowledge(request, pk):
    alert = _alert_or_404(pk)
    form = AcknowledgeForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.alert_acknowledge(alert=alert, user=request.user, note=note, remote_addr=client_ip(request))
        messages.success(request, "Acknowledged.")
    except ActionError as exc:
        messages.error(request, str(exc))
    return redirect(request.POST["next"] if _safe_next(request) else "alerts:list")


@require_POST
@operator_required("alert_silence")
def alert_silence(request, pk):
    alert = _alert_or_404(pk)
    form = SilenceForm(request.POST)
    if form.is_valid():
        try:
            services.alert_silence(
                alert=alert,
                user=request.user,
                minutes=form.cleaned_data["minutes"],
                reason=form.cleaned_data["reason"],
                remote_addr=client_ip(request),
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Silenced for {form.cleaned_data['minutes']} min: nothing is sent meanwhile.")
            return redirect("alerts:list")
    # The form again, with what was typed and what is wrong.
    context = {
        "alert": alert,
        "deliveries": selectors.alert_deliveries(alert),
        "silence_form": form,
        "ack_form": AcknowledgeForm(),
    }
    return render(request, "alerts/alert.html", context, status=400)


@require_POST
@operator_required("alert_unsilence")
def silence_end(request, pk):
    silence = next((s for s in selectors.silences_active() if s.pk == pk), None)
    if silence is None:
        messages.error(request, "That silence has already ended.")
    else:
        services.silence_end(silence=silence, user=request.user, remote_addr=client_ip(request))
        messages.success(request, "Silence ended: notifications go out again.")
    return redirect("alerts:list")


def _safe_next(request) -> bool:
    target = request.POST.get("next") or ""
    return target.startswith("/") and not target.startswith("//")


@require_GET
def failures(request):
    form = FailureFilterForm(request.GET or None, endpoints=_endpoints())
    window, endpoint_id = form.values()
    group = None
    if request.GET.get("group", "").isdigit():
        group = selectors.error_group(int(request.GET["group"]))
    context = {
        "form": form,
        "window": window,
        "groups": selectors.error_groups(window, endpoint_id=endpoint_id),
        "selected": group,
    }
    return render_page(request, "alerts/failures.html", context, partial="results")


@require_GET
def banner_hx(request):
    return render(request, "alerts/_banner.html", {"stall": services.polling_stall()})


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """For uptime monitors: 200 while polling keeps up, 503 with the reason when it stalled. No data in it."""
    try:
        stall = services.polling_stall()
    except DatabaseError:
        return JsonResponse({"status": "error", "reason": "The database does not answer."}, status=503)
    if stall is not None:
        return JsonResponse({"status": "stalled", "reason": stall.public_reason}, status=503)
    return JsonResponse({"status": "ok"})
