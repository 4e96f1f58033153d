"""Context builders and refresh intervals that more than one page's views use, so views never import each other."""

from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from django.http import Http404
from django.utils import timezone

from dashboard import saved_views
from dashboard.forms import SavedViewForm
from dashboard.templatetags.dashboard import status_label
from jobs import selectors
from jobs.constants import COMPLETED
from jobs.models import Job

# A job's page and the jobs table refresh their live parts this often while something still changes.
LIVE_SECONDS = 2
# Snapshots arrive every 10 s; refreshing the overview or an endpoint's figures faster would re-read the same rows.
OVERVIEW_REFRESH_SECONDS = 5
# An endpoint's price panel shows the estimated cost of its jobs created this many hours back.
ENDPOINT_COST_HOURS = 24


def table_context(jobs, *, filter_query="", first_page=True) -> dict:
    """What the jobs table's refresher needs: the rows still changing, and where the first page starts."""
    top = ""
    if first_page:
        newest = jobs[0] if jobs else None
        cursor = selectors.Cursor(newest.created_at, newest.pk) if newest else selectors.Cursor(timezone.now(), 0)
        top = cursor.encode()
    return {
        "jobs": jobs,
        "active_ids": ",".join(str(job.pk) for job in jobs if not job.is_final),
        "top": top,
        "filter_query": filter_query,
        "live_seconds": LIVE_SECONDS,
    }


def job_or_404(pk) -> Job:
    try:
        return selectors.job_detail(pk)
    except Job.DoesNotExist:
        raise Http404("No such job.") from None


def is_settled(job) -> bool:
    """Nothing more will change: final (or no longer tracked), and everything there was to fetch is stored."""
    return (job.is_final or job.tracking_stopped_at is not None) and job.next_poll_at is None


@dataclass
class Event:
    at: object
    status: str = ""  # a status change, shown as a badge
    label: str = ""  # or another event
    detail: str = ""
    since_ms: float | None = None


def job_timeline(job, transitions) -> list[Event]:
    """Created, every status change, archived: in time order, each with the time since the one before."""
    who = f"by {job.submitted_by.username}" if job.submitted_by else ""
    events = [Event(job.created_at, label="Tracked" if job.tracked else "Created", detail=who)]
    for t in transitions:
        detail = f"from {status_label(t.from_status)} · {t.source}" if t.from_status else t.source
        events.append(Event(t.at, status=t.to_status, detail=detail))
    if job.archived_at:
        events.append(Event(job.archived_at, label="Archived here", detail="output and status object stored"))
    events.sort(key=lambda event: event.at)
    for previous, event in pairwise(events):
        event.since_ms = (event.at - previous.at).total_seconds() * 1000
    return events


def live_context(job, **extra) -> dict:
    """What the self-refreshing part of a job's page needs."""
    settled = is_settled(job)
    return {
        "job": job,
        "settled": settled,
        "show_output": job.is_final and (job.has_output or job.completed_without_output or job.status == COMPLETED),
        "timeline": job_timeline(job, selectors.job_transitions(job)),
        "now": timezone.now(),
        "live_seconds": LIVE_SECONDS,
        **extra,
    }


def can_set_price(user) -> bool:
    """Prices are endpoint settings: admins only, like the rest of an endpoint's settings."""
    return user.is_authenticated and user.has_perm("jobs.change_endpoint")


def price_context(endpoint, user, **extra) -> dict:
    """The endpoint's price panel (on its page, and its own page without JavaScript): the price, its last day's
    estimated cost, and for admins the form with the presets."""
    now = timezone.now()
    since = now - timedelta(hours=ENDPOINT_COST_HOURS)
    return {
        "endpoint": endpoint,
        "recent_cost": selectors.filter_cost_total(selectors.JobFilters(endpoint_id=endpoint.pk, since=since), now=now),
        "recent_hours": ENDPOINT_COST_HOURS,
        "can_set_price": can_set_price(user),
        "typed": None,
        **extra,
    }


def views_for_request(request) -> list:
    """The views the nav and the page show, read once per request."""
    views = getattr(request, "_saved_views", None)
    if views is None:
        views = saved_views.views_for_menu(request.user)
        request._saved_views = views
    return views


def menu_context(request) -> dict:
    views = views_for_request(request)
    counts = saved_views.views_active_counts(views)
    items = [{"view": view, "count": counts.get(view.pk, 0), "url": saved_views.view_url(view)} for view in views]
    return {
        "team_items": [item for item in items if item["view"].is_team],
        "own_items": [item for item in items if not item["view"].is_team],
    }


def save_bar_context(request, form) -> dict:
    """For the jobs page: which saved views its filter is, and the form that saves it."""
    current, _ = saved_views.filter_of_form(form)
    query = saved_views.filter_query(current)
    return {
        "active_views": saved_views.views_matching(views_for_request(request), current),
        "save_form": SavedViewForm(initial={"query": query}),
        "can_share": saved_views.can_share(request.user),
    }
