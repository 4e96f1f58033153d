"""Admins manage endpoints and keys here; the key field is write-only and never rendered back."""

import json
from decimal import Decimal
from urllib.parse import urlparse

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from .costs import PRICE_PRESETS, price_text
from .models import AuditEntry, Endpoint, HealthSnapshot, Job
from .services import InputError, audit_record, price_parse
from .services.storable import storable_json
from .services.webhooks import webhook_path

# Changes of these endpoint fields are audited with their old and new values (the key only as "replaced").
AUDITED_ENDPOINT_FIELDS = [
    "name",
    "runpod_id",
    "base_url",
    "enabled",
    "poll_running_seconds",
    "poll_queued_seconds",
    "poll_queued_max_seconds",
    "status_rate_per_10s",
    "status_concurrency",
    "run_rate_per_10s",
    "price_per_second",
]


def url_origin(url: str) -> tuple:
    """Where a request to this URL goes: scheme, host and port (the key is sent wherever that is)."""
    parsed = urlparse(url or "")
    return (parsed.scheme.lower(), (parsed.hostname or "").lower(), parsed.port)


def _remote_addr(request):
    from dashboard.security import client_ip

    return client_ip(request)


def validate_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise forms.ValidationError("Use an http:// or https:// URL.")
    if parsed.username or parsed.password:
        raise forms.ValidationError("Credentials do not belong in the URL: put the key in the API key field.")
    if parsed.query or parsed.fragment:
        raise forms.ValidationError("The base URL takes no query string or fragment.")
    return url.rstrip("/")


class PriceInput(forms.TextInput):
    """A price typed over a list of presets (a <datalist>: pick one, or type any price)."""

    def __init__(self, attrs=None):
        super().__init__(
            {"list": "price-presets", "inputmode": "decimal", "placeholder": "e.g. 0.00031", **(attrs or {})}
        )

    def format_value(self, value):
        return price_text(value) if isinstance(value, Decimal) else super().format_value(value)

    def render(self, name, value, attrs=None, renderer=None):
        options = format_html_join(
            "", '<option value="{}">{}</option>', ((price_text(price), label) for label, price in PRICE_PRESETS)
        )
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="price-presets">{}</datalist>', field, options)


def _audit_value(value):
    """Audit details are JSON: a price is written as its plain digits."""
    return price_text(value) if isinstance(value, Decimal) else value


class EndpointForm(forms.ModelForm):
    # Never rendered back: an empty field keeps the stored key.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )
    # A URL typed without a scheme becomes https://, never http://, which would send the key in clear text.
    base_url = forms.URLField(
        label="Base URL",
        max_length=300,
        assume_scheme="https",
        help_text="RunPod's API base, without the endpoint id.",
    )

    # Checked by the same service as the endpoint page's form, so both accept and refuse the same prices.
    price_per_second = forms.CharField(
        label="Price per second (USD)",
        required=False,
        widget=PriceInput,
        help_text="What one second of GPU time costs on this endpoint, for the cost estimates. Pick a preset "
        "(RunPod's flex-worker prices per GPU class when this dashboard was written: check them against your RunPod "
        "bill) or type your own. Empty: no price, and no cost is shown.",
    )

    class Meta:
        model = Endpoint
        fields = [
            "name",
            "runpod_id",
            "base_url",
            "api_key",
            "enabled",
            "poll_running_seconds",
            "poll_queued_seconds",
            "poll_queued_max_seconds",
            "status_rate_per_10s",
            "status_concurrency",
            "run_rate_per_10s",
            "price_per_second",
        ]

    def clean_price_per_second(self):
        try:
            return price_parse(self.cleaned_data["price_per_second"])
        except InputError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_base_url(self):
        return validate_base_url(self.cleaned_data["base_url"])

    def clean_api_key(self):
        key = self.cleaned_data["api_key"]
        if not key and not (self.instance and self.instance.pk and self.instance.api_key):
            raise forms.ValidationError("An API key is needed for a new endpoint.")
        return key

    def clean(self):
        """A stored key is only ever sent to the origin it was entered for: a new host or scheme needs it again."""
        cleaned = super().clean()
        new_url = cleaned.get("base_url")
        if self.instance.pk and new_url and not cleaned.get("api_key") and "api_key" not in self.errors:
            old_url = Endpoint.objects.filter(pk=self.instance.pk).values_list("base_url", flat=True).first()
            if old_url and url_origin(old_url) != url_origin(new_url):
                self.add_error(
                    "api_key",
                    f"The base URL now points somewhere else ({url_origin(new_url)[1] or new_url}): enter the API "
                    "key again, so the stored key is never sent to a host it was not entered for.",
                )
        return cleaned

    def audit_changes(self, before: dict | None) -> dict:
        """Old and new values of the audited fields that changed (the key only as replaced, never its value)."""
        after = {name: getattr(self.instance, name) for name in AUDITED_ENDPOINT_FIELDS}
        changes = {
            name: {"from": _audit_value(before.get(name)), "to": _audit_value(value)}
            for name, value in after.items()
            if before is not None and before.get(name) != value
        }
        if self.cleaned_data.get("api_key"):
            changes["api_key"] = "replaced" if before is not None else "set"
        return changes

    def save(self, commit=True):
        key = self.cleaned_data["api_key"]
        endpoint = super().save(commit=False)
        if key:
            endpoint.api_key = key
            # A new key deserves a fresh try at once.
            endpoint.auth_failed_at = None
        elif endpoint.pk:
            endpoint.api_key = Endpoint.objects.get(pk=endpoint.pk).api_key
        if commit:
            endpoint.save()
        return endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "name",
        "runpod_id",
        "base_url",
        "enabled",
        "price",
        "key_refused",
        "last_poll_at",
        "last_health_at",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "runpod_id"]
    readonly_fields = [
        "webhook_url",
        "auth_failed_at",
        "backoff_until",
        "last_error",
        "last_error_at",
        "last_poll_at",
    ]

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        """Give this to scripts that submit jobs elsewhere: RunPod then reports their results here."""
        if not obj.pk:
            return "Shown once the endpoint is saved."
        return self.request_absolute(webhook_path(obj))

    def get_form(self, request, obj=None, **kwargs):
        self.request_absolute = request.build_absolute_uri
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="price per second", ordering="price_per_second")
    def price(self, obj):
        return "no price set" if obj.price_per_second is None else f"${price_text(obj.price_per_second)}/s"

    @admin.display(boolean=True, description="key refused")
    def key_refused(self, obj):
        return obj.key_refused

    def save_model(self, request, obj, form, change):
        before = (
            Endpoint.objects.filter(pk=obj.pk).values(*AUDITED_ENDPOINT_FIELDS).first() if change and obj.pk else None
        )
        super().save_model(request, obj, form, change)
        changes = form.audit_changes(before)
        if change and not changes:
            return
        audit_record(
            action="endpoint_change" if change else "endpoint_create",
            user=request.user,
            endpoint=obj,
            message=(
                f"Changed {', '.join(sorted(changes))} of {obj.name}" if change else f"Created endpoint {obj.name}"
            ),
            detail={"changes": changes} if change else {"base_url": obj.base_url, "runpod_id": obj.runpod_id},
            remote_addr=_remote_addr(request),
        )

    def delete_model(self, request, obj):
        _audit_deletion(request, "endpoint_delete", [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        _audit_deletion(request, "endpoint_delete", list(queryset))
        super().delete_queryset(request, queryset)


def _audit_deletion(request, action, objects):
    for obj in objects:
        audit_record(
            action=action, user=request.user, message=f"Deleted {obj} in the admin", remote_addr=_remote_addr(request)
        )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["runpod_id", "endpoint", "status", "mode", "created_at", "archived", "expired"]
    list_filter = ["status", "endpoint", "archived", "expired"]
    search_fields = ["runpod_id"]
    list_select_related = ["endpoint"]
    exclude = ["s3_config"]
    raw_id_fields = ["submitted_by"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        """An admin's edit of a job is audited with the old and new value of each changed field."""
        before = Job.objects.filter(pk=obj.pk).values(*form.changed_data).first() or {}
        super().save_model(request, obj, form, change)
        changes = {name: {"from": before.get(name), "to": form.cleaned_data.get(name)} for name in form.changed_data}
        audit_record(
            action="job_admin_edit",
            user=request.user,
            job=obj,
            message=f"Edited {', '.join(form.changed_data) or 'nothing'} in the admin",
            detail={"changes": storable_json(json.loads(json.dumps(changes, default=str)))},
            remote_addr=_remote_addr(request),
        )

    def delete_model(self, request, obj):
        _audit_deletion(request, "job_admin_delete", [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        _audit_deletion(request, "job_admin_delete", list(queryset[:1000]))
        super().delete_queryset(request, queryset)


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(admin.ModelAdmin):
    list_display = ["endpoint", "taken_at", "jobs_in_queue", "jobs_in_progress", "workers_running", "workers_idle"]
    list_filter = ["endpoint"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "action", "endpoint", "job", "outcome", "message"]
    list_filter = ["action", "outcome"]
    search_fields = ["username", "message"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
