from django import forms

from alerts.models import Alert, RuleKind
from alerts.selectors import FAILURE_WINDOWS, AlertFilters


class SilenceForm(forms.Form):
    minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=60, label="For (minutes)")
    reason = forms.CharField(max_length=2000, label="Reason")


class AcknowledgeForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, label="Note")


class AlertFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "Every rule"), *RuleKind.choices])
    state = forms.ChoiceField(required=False, choices=[("", "Firing and resolved"), *Alert.State.choices])
    endpoint = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args, endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "Every endpoint"), *[(e.pk, e.name) for e in endpoints]]

    def filters(self) -> AlertFilters:
        if not self.is_valid():
            return AlertFilters()
        data = self.cleaned_data
        return AlertFilters(kind=data["kind"], state=data["state"], endpoint_id=data["endpoint"])


class FailureFilterForm(forms.Form):
    window = forms.ChoiceField(required=False, initial="24h", choices=[(w, w) for w in FAILURE_WINDOWS])
    endpoint = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args, endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "Every endpoint"), *[(e.pk, e.name) for e in endpoints]]

    def values(self):
        if not self.is_valid():
            return "24h", None
        return self.cleaned_data["window"] or "24h", self.cleaned_data["endpoint"]
