"""Admins manage endpoints and keys here; the key field is write-only and never rendered back."""

from urllib.parse import urlparse

from django import forms
from django.contrib import admin

from .models import AuditEntry, Endpoint, HealthSnapshot, Job
from .services.webhooks import webhook_path


def validate_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise forms.ValidationError("Use an http:// or https:// URL.")
    if parsed.username or parsed.password:
        raise forms.ValidationError("Credentials do not belong in the URL: put the key in the API key field.")
    if parsed.query or parsed.fragment:
        raise forms.ValidationError("The base URL takes no query string or fragment.")
    return url.rstrip("/")


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
        ]

    def clean_base_url(self):
        return validate_base_url(self.cleaned_data["base_url"])

    def clean_api_key(self):
        key = self.cleaned_data["api_key"]
        if not key and not (self.instance and self.instance.pk and self.instance.api_key):
            raise forms.ValidationError("An API key is needed for a new endpoint.")
        return key

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
    list_display = ["name", "runpod_id", "base_url", "enabled", "key_refused", "last_poll_at", "last_health_at"]
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

    @admin.display(boolean=True, description="key refused")
    def key_refused(self, obj):
        return obj.key_refused


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
