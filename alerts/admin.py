"""Admins manage channels and thresholds here; secrets are write-only (never shown back)."""

from django import forms
from django.contrib import admin

from alerts.models import Alert, Channel, Delivery, DeliveryAttempt, ErrorGroup, RuleSetting


class ChannelForm(forms.ModelForm):
    # Write-only: left blank, the stored value is kept; the clear value is never rendered into the form.
    url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Slack or webhook URL; blank keeps the stored one.",
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook HMAC key; blank keeps the stored one.",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "url", "secret", "recipients"]

    def clean(self):
        data = super().clean()
        for name in ("url", "secret"):
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
        kind, url = data.get("kind"), data.get("url") or ""
        if kind in (Channel.Kind.SLACK, Channel.Kind.WEBHOOK) and not url.startswith(("http://", "https://")):
            self.add_error("url", "An http:// or https:// URL is needed for this kind.")
        if kind == Channel.Kind.EMAIL and not data.get("recipients", "").strip():
            self.add_error("recipients", "At least one address is needed for email.")
        return data


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "last_ok_at", "consecutive_failures", "last_error"]
    readonly_fields = ["last_ok_at", "last_error", "last_error_at", "consecutive_failures"]


@admin.register(RuleSetting)
class RuleSettingAdmin(admin.ModelAdmin):
    list_display = ["kind", "endpoint", "enabled", "threshold", "window_seconds", "min_count"]
    list_filter = ["kind", "enabled"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "ok", "status_code", "error", "duration_ms"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["alert", "channel", "event", "state", "attempts", "sent_at"]
    list_filter = ["state", "event"]
    inlines = [DeliveryAttemptInline]
    readonly_fields = ["alert", "channel", "event", "state", "attempts", "next_attempt_at", "sent_at", "last_error"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["kind", "endpoint", "state", "fired_at", "resolved_at", "acknowledged_by"]
    list_filter = ["state", "kind"]
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(ErrorGroup)
class ErrorGroupAdmin(admin.ModelAdmin):
    list_display = ["error_type", "message", "count", "first_seen", "last_seen"]
    readonly_fields = [f.name for f in ErrorGroup._meta.fields]
