"""Pages of the API app: a person's API tokens (make, name, revoke; a new token shown once), and /metrics."""

import functools
import ipaddress
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from . import tokens
from .auth import client_ip
from .metrics import DashboardCollector
from .models import ApiToken

EXPIRY_CHOICES = {"": None, "7": 7, "30": 30, "90": 90, "365": 365}


class TokenForm(forms.Form):
    name = forms.CharField(max_length=tokens.NAME_MAX_LENGTH, strip=True, help_text="What it is for, e.g. 'Grafana'.")
    expires = forms.ChoiceField(
        required=False,
        choices=[("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")],
    )

    def expires_at(self):
        days = EXPIRY_CHOICES.get(self.cleaned_data.get("expires") or "")
        return timezone.now() + timedelta(days=days) if days else None


def _tokens_page(request, form, *, new_token=None, status=200):
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id"),
        "new_token": new_token,
        "now": timezone.now(),
    }
    return render(request, "api/tokens.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def token_list(request):
    """GET: the user's tokens; POST: make one, and show its secret on this answer only (never cached)."""
    if request.method == "GET":
        return _tokens_page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = tokens.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                remote_addr=client_ip(request),
            )
        except tokens.TokenError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            return _tokens_page(request, TokenForm(), new_token={"token": token, "raw": raw}, status=201)
    return _tokens_page(request, form, status=422)


@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    tokens.token_revoke(token=token, user=request.user, remote_addr=client_ip(request))
    messages.success(request, f"Token {token.name} is revoked: programs using it now get 401.")
    return redirect("api_tokens")


def _metrics_allowed(request) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a client address in METRICS_ALLOWED_IPS; neither set: nobody."""
    expected = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if expected and header[:7].lower() == "bearer " and tokens.secrets_equal(header[7:].strip(), expected):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


@functools.cache
def _networks(entries) -> list:
    """METRICS_ALLOWED_IPS read once; a wrong entry fails loudly rather than letting everyone in or no one."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


@login_not_required
@never_cache
@require_GET
def metrics(request):
    """Metrics for Prometheus, behind METRICS_TOKEN or METRICS_ALLOWED_IPS (the site login is not asked)."""
    if not _metrics_allowed(request):
        response = HttpResponse(
            "Send METRICS_TOKEN as a bearer token, or scrape from METRICS_ALLOWED_IPS.\n", status=401
        )
        response["Content-Type"] = "text/plain; charset=utf-8"
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector())
    # OpenMetrics when the scraper asks for it (Prometheus does), the classic text format otherwise (curl, promtool).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
