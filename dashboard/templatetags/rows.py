"""Table rows drawn in Python: a page has fifty of them and is refreshed every few seconds.

A template per row costs about a millisecond and format_html's lazy-string checks most of what remains, so rows
are plain f-strings. Every value that did not come from this module (job ids, endpoint and user names, the input
preview) goes through `esc`, the standard library's HTML escape, which escapes the same five characters as
Django's.
"""

from functools import lru_cache
from html import escape as esc

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from .costs import cost_cell_html
from .dashboard import duration_ms, status_badge, status_class, time_tag

register = template.Library()

FLAGS = (
    ("expired", '<span class="flag" title="RunPod dropped it before it was archived">expired</span>'),
    ("not_found", '<span class="flag" title="RunPod never knew this id">unknown id</span>'),
    ("completed_without_output", '<span class="flag" title="COMPLETED without output">no output</span>'),
)
PLACEHOLDER = 987654321
TRACKED = ' <span class="tag" title="Submitted elsewhere, tracked by id">tracked</span>'


def _flag(job) -> str:
    return next((" " + html for attr, html in FLAGS if getattr(job, attr)), "")


@lru_cache(maxsize=8)
def _url_pattern(name: str) -> str:
    """reverse() once per URL name; rows then fill in the id (reverse is the slowest part of a row)."""
    return reverse(name, args=[PLACEHOLDER]).replace(str(PLACEHOLDER), "{}")


def _url(name: str, pk: int) -> str:
    return _url_pattern(name).format(int(pk))


def _mode(job) -> str:
    return "sync" if job.mode == "runsync" else "stream" if job.streaming else "async"


@lru_cache(maxsize=128)
def _badge(status: str) -> str:
    return str(status_badge(status))


def _optional_cells(job, hide_endpoint):
    if hide_endpoint:
        return "", ""
    endpoint = (
        f'<td class="c-endpoint"><a href="{_url("endpoint_detail", job.endpoint_id)}">{esc(job.endpoint.name)}</a></td>'
    )
    user = f'<td class="c-user">{esc(job.submitted_by.username) if job.submitted_by_id else "—"}</td>'
    return endpoint, user


def _pick_cell(job) -> str:
    """A checkbox of the jobs list's compare form (outside the table, joined by its form attribute)."""
    return (
        f'<td class="c-pick"><input type="checkbox" name="job" value="{int(job.pk)}" form="compare-form" '
        f'data-compare-pick aria-label="Tick job {int(job.pk)} to compare"></td>'
    )


@register.simple_tag(takes_context=True)
def job_row(context, job):
    """One <tr> of the jobs table (kept in step with the header in jobs.html)."""
    endpoint_cell, user_cell = _optional_cells(job, context.get("hide_endpoint"))
    preview = getattr(job, "input_preview", None)
    preview = f'<span class="preview mono">{esc(preview)}</span>' if preview else ""
    oob = ' hx-swap-oob="true"' if context.get("oob") else ""
    now = timezone.now()
    html = (
        f'<tr id="job-{int(job.pk)}" class="{status_class(job.status)}"{oob}>'
        f"{_pick_cell(job) if context.get('selectable') else ''}"
        f'<td class="c-status">{_badge(job.status)}{_flag(job)}</td>'
        f'<td class="c-job"><a class="mono" href="{_url("job_detail", job.pk)}">'
        f"{esc(job.runpod_id or 'not sent yet')}</a>{preview}</td>{endpoint_cell}"
        f'<td class="c-mode"><span class="tag">{_mode(job)}</span>{TRACKED if job.tracked else ""}</td>'
        f'<td class="c-time">{time_tag(job.created_at, now)}</td>'
        f'<td class="num">{duration_ms(job.delay_ms)}</td><td class="num">{duration_ms(job.execution_ms)}</td>'
        f'<td class="num c-cost">{cost_cell_html(job, now)}</td>'
        f"{user_cell}</tr>"
    )
    return mark_safe(html)  # noqa: S308 - every outside value above is escaped with esc()
