"""Forms: submit a job, track one, confirm a purge, and the filters of the job and audit lists."""

import json
from datetime import UTC, timedelta

from django import forms
from django.utils import timezone

from jobs import selectors, services
from jobs.constants import RUNPOD_ID_MAX_LENGTH
from jobs.models import Endpoint, Job, JobStatus

MODES = {
    # form value: (label, mode for services.job_submit, streaming)
    "async": ("Async", "run", False),
    "sync": ("Sync", "runsync", False),
    "stream": ("Stream", "run", True),
}
MODE_HELP = {
    "async": "/run, then poll /status. RunPod keeps the result 30 minutes; we keep it for good.",
    "sync": "/runsync: RunPod waits for the result, then keeps it only 60 seconds.",
    "stream": "/run, then read /stream: chunks appear here as the worker yields them.",
}
RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
RANGE_LABELS = {"15m": "Last 15 min", "1h": "Last hour", "24h": "Last 24 h", "7d": "Last 7 days"}
# Ids beyond a 64-bit column cannot name a row (and SQLite cannot even take them as a parameter).
MAX_ID = 2**63 - 1
EXAMPLE_INPUT = '{\n  "prompt": "Hello"\n}'
# The form field beside which a services.InputError about each submission input is shown (others go on top).
SERVICE_FIELDS = {
    "input": "input",
    "webhook": "webhook",
    "policy.executionTimeout": "execution_timeout",
    "policy.ttl": "ttl",
}


def _endpoint_choices(endpoint_field, endpoints=None, *, queryset=None):
    """Options from one list read once: ModelChoiceField would read the table again at every render (with a
    server-side cursor on PostgreSQL). The queryset (enabled endpoints unless given) still validates the posted
    value; the options are always the enabled endpoints."""
    rows = endpoints if endpoints is not None else list(selectors.endpoints_enabled())
    endpoint_field.queryset = queryset if queryset is not None else selectors.endpoints_enabled()
    endpoint_field.choices = [(e.pk, e.name) for e in rows]


class SubmitForm(forms.Form):
    endpoint = forms.ModelChoiceField(queryset=Endpoint.objects.none(), empty_label=None)
    input = forms.CharField(
        label="Input (JSON)",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "code", "autocomplete": "off"}),
        help_text='Sent as {"input": …}. At most 10 MB (20 MB for sync).',
    )
    mode = forms.ChoiceField(
        choices=[(k, label) for k, (label, _, _) in MODES.items()], initial="async", widget=forms.RadioSelect
    )
    webhook = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hook"}),
        help_text="RunPod POSTs the result here when the job ends.",
    )
    execution_timeout = forms.IntegerField(
        label="Execution timeout (ms)", required=False, min_value=5_000, max_value=7 * 24 * 3600 * 1000
    )
    ttl = forms.IntegerField(label="TTL (ms)", required=False, min_value=10_000, max_value=7 * 24 * 3600 * 1000)
    low_priority = forms.BooleanField(label="Low priority (does not trigger scaling)", required=False)
    # Edit and run: the job this submission is a new attempt of, carried through a refused post.
    parent = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)

    def __init__(self, *args, endpoint=None, endpoints=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only enabled endpoints are offered, but a disabled one posted (disabled since the form was drawn, or the
        # job being edited was on it) is accepted here so clean_endpoint refuses it with the service's sentence.
        _endpoint_choices(self.fields["endpoint"], endpoints, queryset=selectors.endpoints_for_submit())
        if endpoint is not None:
            self.fields["endpoint"].initial = endpoint.pk
        self.fields["input"].initial = EXAMPLE_INPUT
        self.mode_help = MODE_HELP

    def clean_endpoint(self):
        endpoint = self.cleaned_data["endpoint"]
        try:
            services.endpoint_require_enabled(endpoint, "nothing can be submitted to it")
        except services.InputError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return endpoint

    def clean_parent(self):
        pk = self.cleaned_data.get("parent")
        if pk is None:
            return None
        try:
            return selectors.job_detail(pk)
        except Job.DoesNotExist:
            raise forms.ValidationError(
                f"Job {pk}, which this was edited from, no longer exists: submit from a new form instead."
            ) from None

    def clean_input(self):
        text = self.cleaned_data["input"]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
        except RecursionError as exc:
            raise forms.ValidationError("The JSON is nested too deeply to read (hundreds of levels).") from exc
        except ValueError as exc:  # Python refuses integers of more than 4,300 digits
            raise forms.ValidationError("The JSON holds a number too long to read (over 4,300 digits).") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('The input must be a JSON object, like {"prompt": "..."}.')
        return value

    def policy(self):
        policy = {}
        if self.cleaned_data.get("execution_timeout") is not None:
            policy["executionTimeout"] = self.cleaned_data["execution_timeout"]
        if self.cleaned_data.get("ttl") is not None:
            policy["ttl"] = self.cleaned_data["ttl"]
        if self.cleaned_data.get("low_priority"):
            policy["lowPriority"] = True
        return policy or None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        _, mode, _ = MODES[cleaned["mode"]]
        try:
            services.check_submission(
                input=cleaned["input"], mode=mode, webhook=cleaned.get("webhook", ""), policy=self.policy()
            )
        except services.InputError as exc:
            self.add_error(SERVICE_FIELDS.get(exc.field), str(exc))
        return cleaned

    def submission(self) -> dict:
        """Keyword arguments for services.job_submit."""
        _, mode, streaming = MODES[self.cleaned_data["mode"]]
        return {
            "endpoint": self.cleaned_data["endpoint"],
            "input": self.cleaned_data["input"],
            "mode": mode,
            "streaming": streaming,
            "webhook": self.cleaned_data.get("webhook", ""),
            "policy": self.policy(),
            "parent": self.cleaned_data.get("parent"),
        }


def submit_initial(job) -> dict:
    """The submit form's values taken from a job, for edit and run (its s3Config is never shown, so not copied)."""
    policy = job.policy if isinstance(job.policy, dict) else {}
    mode = "sync" if job.mode == Job.Mode.RUNSYNC else "stream" if job.streaming else "async"
    text = json.dumps(job.input, indent=2, ensure_ascii=False) if job.input is not None else EXAMPLE_INPUT
    return {
        "endpoint": job.endpoint_id,
        "input": text,
        "mode": mode,
        "webhook": job.webhook,
        "execution_timeout": policy.get("executionTimeout"),
        "ttl": policy.get("ttl"),
        "low_priority": bool(policy.get("lowPriority")),
        "parent": job.pk,
    }


class TrackForm(forms.Form):
    endpoint = forms.ModelChoiceField(queryset=Endpoint.objects.none(), empty_label=None)
    runpod_id = forms.CharField(label="RunPod job id", max_length=RUNPOD_ID_MAX_LENGTH)
    streaming = forms.BooleanField(label="Read it through /stream", required=False)

    def __init__(self, *args, endpoint=None, endpoints=None, **kwargs):
        super().__init__(*args, **kwargs)
        _endpoint_choices(self.fields["endpoint"], endpoints)
        if endpoint is not None:
            self.fields["endpoint"].initial = endpoint.pk


class PurgeForm(forms.Form):
    confirm = forms.CharField(label="Type the endpoint's name to confirm", max_length=100, strip=True)

    def __init__(self, *args, endpoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        self.fields["confirm"].widget.attrs.update(
            autocomplete="off", spellcheck="false", **{"data-confirm-match": endpoint.name}
        )

    def clean_confirm(self):
        if self.cleaned_data["confirm"] != self.endpoint.name:
            raise forms.ValidationError(f"Type {self.endpoint.name} exactly to purge its queue.")
        return self.cleaned_data["confirm"]


class UtcDateTimeField(forms.DateTimeField):
    """A moment with its offset applied: PostgreSQL refuses offsets past ±15:59, which a typed URL may carry."""

    def to_python(self, value):
        moment = super().to_python(value)
        try:
            return moment.astimezone(UTC) if moment is not None else None
        except OverflowError:
            raise forms.ValidationError("That date is out of range.", code="invalid") from None


class JobFilterForm(forms.Form):
    """The job list's filters; they live in the URL, and a bad value is dropped rather than refused."""

    q = forms.CharField(required=False, max_length=500, strip=True)
    # An id, not a choice: an unknown one simply matches nothing, and no endpoint list is needed to read it.
    endpoint = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.Select)
    status = forms.ChoiceField(required=False)
    range = forms.ChoiceField(required=False, choices=[("", "Any time"), *RANGE_LABELS.items(), ("custom", "Custom")])
    since = UtcDateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = UtcDateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    by = forms.ChoiceField(required=False)
    # An error group from the Failures page (alerts app); hidden, set by its links.
    group = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)

    def __init__(self, *args, users=(), endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].widget.choices = [("", "All endpoints"), *endpoints]
        self.fields["status"].choices = [("", "Any status"), ("active", "Active (not finished)"), *JobStatus.choices]
        self.fields["by"].choices = [("", "Anyone"), *((name, name) for _, name in users)]
        self.users = {name: pk for pk, name in users}

    def filters(self, now=None) -> selectors.JobFilters:
        data = self.valid_data()
        now = now or timezone.now()
        since, until = data.get("since"), data.get("until")
        if data.get("range") in RANGES:
            since, until = now - RANGES[data["range"]], None
        return selectors.JobFilters(
            endpoint_id=data.get("endpoint"),
            status=data.get("status") or "",
            since=since,
            until=until,
            user_id=self.users.get(data.get("by") or ""),
            q=data.get("q") or "",
            error_group_id=data.get("group"),
        )

    def valid_data(self) -> dict:
        """The fields that are valid (Django leaves the invalid ones out of cleaned_data)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data

    @property
    def active_count(self) -> int:
        """How many filters are set (the search box excluded), for the collapsed filter bar."""
        if not self.is_bound:
            return 0
        return sum(1 for name in ("endpoint", "status", "range", "by") if self.data.get(name))


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), ("ok", "OK"), ("error", "Error"), ("denied", "Denied")]
    )
    user = forms.ChoiceField(required=False)
    # An id, not a choice: an unknown one simply matches nothing, and no endpoint list is needed to read it.
    endpoint = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.Select)

    def __init__(self, *args, users=(), endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *((a, a) for a in selectors.AUDIT_ACTIONS)]
        self.fields["user"].choices = [("", "Anyone"), *((name, name) for _, name in users)]
        self.fields["endpoint"].widget.choices = [("", "All endpoints"), *endpoints]

    def filters(self) -> selectors.AuditFilters:
        data = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        return selectors.AuditFilters(
            action=data.get("action") or "",
            outcome=data.get("outcome") or "",
            username=data.get("user") or "",
            endpoint_id=data.get("endpoint"),
        )


class SavedViewForm(forms.Form):
    """Save the jobs page's current filter (its query string, normalised by dashboard/saved_views.py) by name."""

    # Length and characters are checked by the service, which says what is wrong in a sentence.
    name = forms.CharField(max_length=1000, strip=True, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    team = forms.BooleanField(label="For the team", required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)


class SavedViewRenameForm(forms.Form):
    name = forms.CharField(max_length=1000, strip=True, widget=forms.TextInput(attrs={"autocomplete": "off"}))
