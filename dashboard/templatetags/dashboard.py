"""Filters and tags every page uses: status badges, times, durations, JSON, output media, charts.

Everything RunPod or a person typed is escaped here (format_html, escape); nothing they sent is marked safe.
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from dashboard import charts, jsonview
from jobs.constants import ACTIVE_STATES, EXPIRED, NOT_FOUND, UNKNOWN
from jobs.models import JobStatus

register = template.Library()

# Labels for states that are not JobStatus choices but appear as timeline events.
EVENT_LABELS = {EXPIRED: "Expired at RunPod", NOT_FOUND: "Unknown to RunPod", UNKNOWN: "Unknown"}
# JobStatus.values builds a new list on each access; badges are drawn hundreds of times per page.
STATUS_LABELS = {**dict(JobStatus.choices), **EVENT_LABELS}
STATUS_CLASSES = {status: f"st-{status.lower()}" for status in STATUS_LABELS}


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@register.filter
def status_class(status: str) -> str:
    """A CSS class per known state; any state RunPod invents later is shown neutrally."""
    return STATUS_CLASSES.get(status, "st-unknown")


@register.filter
def status_badge(status: str):
    live = " live" if status in ACTIVE_STATES else ""
    return format_html(
        '<span class="badge {}{}" data-status="{}"><i aria-hidden="true"></i>{}</span>',
        status_class(status),
        live,
        status,
        status_label(status),
    )


def relative(value: datetime, now: datetime) -> str:
    seconds = (now - value).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 5:
        return "just now"
    for limit, size, unit in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "h"), (86400 * 30, 86400, "d")):
        if seconds < limit:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return timezone.localtime(value).strftime("%Y-%m-%d")


def time_tag(value, now):
    """<time> showing "3 min ago", with the exact time on hover; app.js keeps the words current.

    Built as an f-string (rows draw fifty of these): every part is a date formatted here.
    """
    local = timezone.localtime(value)
    exact = local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d} {local.tzname()}"
    html = f'<time datetime="{value.isoformat()}" title="{exact}" data-rel>{relative(value, now)}</time>'
    return mark_safe(html)  # noqa: S308 - dates formatted above, no outside text


@register.filter
def reltime(value):
    if not value:
        return mark_safe('<span class="muted">—</span>')
    return time_tag(value, timezone.now())


@register.filter
def clock(value):
    """Time of day with milliseconds, for timelines."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return local.strftime("%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


@register.filter
def duration_ms(value):
    """850 ms, 12.3 s, 4 min 03 s, 2 h 05 min."""
    if value is None or value == "":
        return "—"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def since(later, earlier):
    """Milliseconds from earlier to later, for "running 12.3 s"."""
    if not later or not earlier:
        return None
    return max(0.0, (later - earlier).total_seconds() * 1000)


@register.filter
def duration_seconds(value):
    """A bucket size: 10 s, 5 min, 1 h, 1 d."""
    seconds = int(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@register.filter
def countdown(value, now=None):
    """Time left until value as m:ss (or h:mm:ss); app.js ticks it down every second."""
    if not value:
        return ""
    left = max(0, int((value - (now or timezone.now())).total_seconds()))
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


@register.filter
def without_keys(value, keys):
    """A dict's other items, for the fields of an error beyond type, message and traceback."""
    if not isinstance(value, dict):
        return []
    skip = set(keys.split(","))
    return [(k, v) for k, v in value.items() if k not in skip]


@register.filter
def number(value, digits=1):
    """Counts as integers, averages with one decimal, missing as a dash."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


@register.simple_tag
def json_view(value, *, name="json", download_url="", open_depth=2):
    return jsonview.render(value, name=name, download_url=download_url, open_depth=open_depth)


@register.filter
def json_inline(value):
    """Compact one-line JSON, escaped, for stream chunks and previews."""
    return jsonview.inline(value)


@register.filter
def output_media(value):
    return jsonview.find_media(value)


@register.filter
def is_string(value):
    return isinstance(value, str)


@register.simple_tag
def line_chart(buckets, series, **options):
    return charts.line_chart(buckets, series, **options)


@register.simple_tag
def stacked_chart(buckets, series, **options):
    return charts.stacked_chart(buckets, series, **options)


@register.simple_tag
def bar_chart(buckets, series, **options):
    return charts.bar_chart(buckets, series, **options)


@register.simple_tag
def workers_bar(health):
    return charts.workers_bar(health)


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (empty values removed)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value not in (None, ""):
            query[key] = value
    for key in ("after", "before"):
        if key not in changes and changes:
            query.pop(key, None)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def select(bound_field):
    """A <select> for a filter field, drawn directly: Django's widget templates cost more than the job rows."""
    if not hasattr(bound_field, "field"):
        return ""
    field = bound_field.field
    choices = getattr(field.widget, "choices", None) or field.choices
    current = "" if bound_field.value() is None else str(bound_field.value())
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if str(value) == current else "", label) for value, label in choices),
    )
    return format_html('<select name="{}" id="{}">{}</select>', bound_field.html_name, bound_field.auto_id, options)
