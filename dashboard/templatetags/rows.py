"""Table rows drawn in Python: a page has fifty of them and is refreshed every few seconds, and format_html is
several times faster than a template per row. Every value still goes through format_html's escaping."""

from functools import lru_cache

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .dashboard import duration_ms, status_badge, status_class, time_tag

register = template.Library()

FLAGS = (
    ("expired", "RunPod dropped it before it was archived", "expired"),
    ("not_found", "RunPod never knew this id", "unknown id"),
    ("completed_without_output", "COMPLETED without output", "no output"),
)
PLACEHOLDER = 987654321
TRACKED = mark_safe(' <span class="tag" title="Submitted elsewhere, tracked by id">tracked</span>')


def _flag(job):
    for attr, title, label in FLAGS:
        if getattr(job, attr):
            return format_html(' <span class="flag" title="{}">{}</span>', title, label)
    return ""


@lru_cache(maxsize=8)
def _url_pattern(name: str) -> str:
    """reverse() once per URL name; rows then fill in the id (reverse is the slowest part of a row)."""
    return reverse(name, args=[PLACEHOLDER]).replace(str(PLACEHOLDER), "{}")


def _url(name: str, pk: int) -> str:
    return _url_pattern(name).format(int(pk))


def _mode(job):
    return "sync" if job.mode == "runsync" else "stream" if job.streaming else "async"


@register.simple_tag(takes_context=True)
def job_row(context, job):
    """One <tr> of the jobs table (the row partial's markup, kept in step with jobs.html's header)."""
    hide_endpoint = context.get("hide_endpoint")
    now = timezone.now()
    endpoint_cell = (
        ""
        if hide_endpoint
        else format_html(
            '<td class="c-endpoint"><a href="{}">{}</a></td>',
            _url("endpoint_detail", job.endpoint_id),
            job.endpoint.name,
        )
    )
    user_cell = (
        ""
        if hide_endpoint
        else format_html('<td class="c-user">{}</td>', job.submitted_by.username if job.submitted_by_id else "—")
    )
    preview = getattr(job, "input_preview", None)
    return format_html(
        '<tr id="job-{}" class="{}"{}><td class="c-status">{}{}</td>'
        '<td class="c-job"><a class="mono" href="{}">{}</a>{}</td>{}'
        '<td class="c-mode"><span class="tag">{}</span>{}</td><td class="c-time">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td>{}</tr>',
        job.pk,
        status_class(job.status),
        mark_safe(' hx-swap-oob="true"') if context.get("oob") else "",
        status_badge(job.status),
        _flag(job),
        _url("job_detail", job.pk),
        job.runpod_id or "not sent yet",
        format_html('<span class="preview mono">{}</span>', preview) if preview else "",
        endpoint_cell,
        _mode(job),
        TRACKED if job.tracked else "",
        time_tag(job.created_at, now),
        duration_ms(job.delay_ms),
        duration_ms(job.execution_ms),
        user_cell,
    )
