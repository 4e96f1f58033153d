"""The overview: every endpoint on one screen, found by name, sorted by what needs attention, pinned favourites
first, as cards or a dense table; choices live in the URL, pins in the user's settings.

The live refresh is a conditional request: the page sends the ETag of what it shows, and the answer is a bare
304 when nothing a person would see has changed (one cheap query decides, see selectors/overview.py). When
something did change, only the cards (or table rows) and totals that differ from what that page holds come back,
as htmx out-of-band swaps; what the page holds is remembered in the cache under its ETag for a few minutes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseNotModified, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from alerts import selectors as alert_selectors
from dashboard import charts, preferences
from dashboard.templatetags.dashboard import relative
from jobs import selectors
from jobs.models import Endpoint

from .common import wants_partial
from .context import OVERVIEW_REFRESH_SECONDS

PAGE_SIZES = {"cards": 24, "table": 100}
VIEWS = ("cards", "table")
SORT_LABELS = {
    "attention": "Needs attention",
    "name": "Name",
    "queue": "Deepest queue",
    "failed": "Most failures",
}
DEFAULT_SORT = "attention"
SEARCH_MAX = 100
# What a page showed, by ETag, so the next refresh sends only what differs; a page older than this gets it all.
SENT_SECONDS = 600
# Bump when the markup changes, so a page from before a deploy is never told it is current.
MARKUP_VERSION = "1"
TEMPLATE = "dashboard/overview.html"
# Cards and rows are cached with these marks where the person's CSRF token and link back go (NUL never appears in
# a rendered template: PostgreSQL and Django's forms refuse it in text), and their relative times said again.
CSRF_MARK = "\x00csrf\x00"
NEXT_MARK = "\x00next\x00"
TIME_TAG = re.compile(r'(<time datetime="([^"]+)"[^>]*>)[^<]*</time>')
FRAGMENT_SECONDS = 600


@dataclass
class Totals:
    endpoints: int = 0
    queued: int = 0
    in_progress: int = 0
    workers_running: int = 0
    workers: int = 0
    completed: int = 0
    failed: int = 0
    warnings: int = 0


def overview_totals(summaries) -> Totals:
    totals = Totals(endpoints=len(summaries))
    for summary in summaries:
        if summary.health is not None:
            totals.queued += summary.health.jobs_in_queue
            totals.in_progress += summary.health.jobs_in_progress
            totals.workers_running += summary.health.workers_running
            totals.workers += summary.health.workers_total
        totals.completed += summary.last_hour.completed
        totals.failed += summary.last_hour.failed
        # Overview summaries judge attention (failing, queue growing); plain endpoint summaries only warnings.
        totals.warnings += getattr(summary, "tone", summary.state) in ("error", "warn")
    return totals


@dataclass(frozen=True)
class Choices:
    """What the person chose to see; every choice is a query parameter, so a link or a reload shows the same."""

    q: str = ""
    sort: str = DEFAULT_SORT
    view: str = "cards"
    page: int = 1

    @classmethod
    def from_query(cls, query) -> Choices:
        sort = query.get("sort", DEFAULT_SORT)
        view = query.get("view", "cards")
        try:
            page = min(max(int(query.get("page", 1)), 1), 10**6)
        except (TypeError, ValueError):
            page = 1
        return cls(
            q=query.get("q", "").strip()[:SEARCH_MAX].replace("\x00", ""),
            sort=sort if sort in SORT_LABELS else DEFAULT_SORT,
            view=view if view in VIEWS else "cards",
            page=page,
        )

    def query(self, **changes) -> str:
        """The query string for these choices (defaults left out), with some changed."""
        chosen = replace(self, **changes)
        params = {"q": chosen.q, "sort": chosen.sort, "view": chosen.view, "page": chosen.page}
        defaults = {"q": "", "sort": DEFAULT_SORT, "view": "cards", "page": 1}
        return urlencode({k: v for k, v in params.items() if v != defaults[k]})

    @property
    def page_size(self) -> int:
        return PAGE_SIZES[self.view]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _alert_marks(grouped) -> dict:
    """What each endpoint's alert badge shows, by endpoint id."""
    return {pk: tuple((a.pk, a.kind, a.summary) for a in alerts) for pk, alerts in grouped.items() if pk is not None}


def _etag(request, choices, pinned, rows, now, alerts) -> str:
    fingerprint = selectors.overview_fingerprint(rows, now)
    mine = (
        f"{MARKUP_VERSION}|{request.user.pk}|{choices.query()}|{sorted(pinned)}|{fingerprint}|{sorted(alerts.items())}"
    )
    return _digest(mine)


class Overview:
    """One computation of the overview for a request: the cheap state first, the rest only when needed."""

    def __init__(self, request, choices: Choices):
        self.request = request
        self.choices = choices
        self.now = timezone.now()
        self.rows = selectors.overview_rows(self.now, search=choices.q)
        self.pinned = preferences.pinned_endpoint_ids(request.user)
        # Firing alerts (issue 12) for the cards' badges: one small query, and part of what the ETag covers.
        self.alerts = alert_selectors.firing_by_endpoint()
        self.etag = _etag(request, choices, self.pinned, self.rows, self.now, _alert_marks(self.alerts))

    def build(self) -> dict:
        """Summaries, order, the page, and every card (or row) and the totals as HTML with their digests."""
        summaries = selectors.overview_summaries(self.rows, self.now)
        ordered = selectors.overview_sorted(summaries, sort=self.choices.sort, pinned=self.pinned)
        size = self.choices.page_size
        pages = max(1, -(-len(ordered) // size))
        page = min(self.choices.page, pages)
        shown = ordered[(page - 1) * size : page * size]
        keys, fragments = self._fragments(shown)
        totals = get_template(f"{TEMPLATE}#totals").render(
            {"totals": overview_totals(summaries), "searching": bool(self.choices.q)}
        )
        layout = _digest(f"{self.choices.query(page=page)}|{[s.endpoint.pk for s in shown]}|{pages}|{len(ordered)}")
        digests = {str(pk): key for pk, key in keys.items()}
        digests["totals"] = _digest(totals)
        cache.set(f"dashboard:overview:sent:{self.etag}", {"layout": layout, "parts": digests}, SENT_SECONDS)
        return {
            "choices": self.choices,
            "fragments": [fragments[s.endpoint.pk] for s in shown],
            "totals_html": mark_safe(totals),  # noqa: S308 - a rendered template
            "layout": layout,
            "shown_ids": [s.endpoint.pk for s in shown],
            "summaries": shown,
            "digests": digests,
            "count": len(ordered),
            "page": page,
            "pages": pages,
            "prev_query": self.choices.query(page=page - 1) if page > 1 else None,
            "next_query": self.choices.query(page=page + 1) if page < pages else None,
            "live_query": self.choices.query(page=page),
            "etag": self.etag,
            "now": self.now,
            "refresh_seconds": OVERVIEW_REFRESH_SECONDS,
            "sort_labels": SORT_LABELS,
            "searching": bool(self.choices.q),
        }

    def _fragments(self, shown):
        """Each card (or table row) from the cache when what it shows is unchanged, else rendered and kept.

        A fragment is cached under a digest of everything it shows, so it is rendered once per change, whoever
        asks; the parts that differ per person or per moment (the CSRF token, the link back, relative times) are
        filled in after.
        """
        view = self.choices.view
        slot = charts.spark_slot(self.now)
        marks = _alert_marks(self.alerts)
        keys = {
            s.endpoint.pk: _fragment_key(view, s, s.endpoint.pk in self.pinned, slot, marks.get(s.endpoint.pk))
            for s in shown
        }
        found = cache.get_many(list(keys.values())) if keys else {}
        missing = [s for s in shown if keys[s.endpoint.pk] not in found]
        if missing:
            sparks = charts.overview_sparks(missing, self.now) if view == "cards" else {}
            unit = get_template(f"{TEMPLATE}#{'card' if view == 'cards' else 'row'}")
            drawn = {
                keys[s.endpoint.pk]: unit.render(
                    {
                        "s": s,
                        "chart": sparks.get(s.endpoint.pk),
                        "pinned": s.endpoint.pk in self.pinned,
                        "csrf_token": CSRF_MARK,
                        "next": NEXT_MARK,
                        "alerts": self.alerts.get(s.endpoint.pk, []),
                    }
                )
                for s in missing
            }
            cache.set_many(drawn, FRAGMENT_SECONDS)
            found.update(drawn)
        query = self.choices.query(page=self.choices.page)
        back = escape(f"{reverse('overview')}?{query}" if query else reverse("overview"))
        token = escape(get_token(self.request))
        fragments = {}
        for pk, key in keys.items():
            html = found[key].replace(CSRF_MARK, token).replace(NEXT_MARK, back)
            fragments[pk] = mark_safe(_fresh_times(html, self.now))  # noqa: S308 - rendered templates, escaped fills
        return keys, fragments


def _fragment_key(view, s, pinned, slot, alerts) -> str:
    """A digest of everything a card or row shows, including the chart's own key for cards."""
    h, stats, e = s.health, s.last_hour, s.endpoint
    shown = (
        MARKUP_VERSION,
        view,
        e.pk,
        e.name,
        e.newest_health_id,
        None if h is None else (h.id, h.taken_at),
        (stats.completed, stats.failed, stats.cancelled),
        (stats.delay.p50, stats.delay.p90, stats.delay.p99),
        (stats.execution.p50, stats.execution.p90, stats.execution.p99),
        tuple(s.warnings),
        int(s.attention),
        s.tone,
        s.queue_growing,
        pinned,
        slot if view == "cards" else None,
        alerts,
    )
    return f"dashboard:overview:fragment:{_digest(repr(shown))}"


def _fresh_times(html: str, now) -> str:
    """Relative times ("5 s ago") said as of now, in a fragment that may have been rendered earlier."""
    return TIME_TAG.sub(lambda m: f"{m[1]}{relative(datetime.fromisoformat(m[2]), now)}</time>", html)


def _with_etag(response, etag):
    response["ETag"] = f'"{etag}"'
    # Per person and per moment: no shared or stored copies; the page asks with If-None-Match itself.
    response["Cache-Control"] = "no-store"
    return response


def _render_overview(request, choices, *, partial=None):
    overview = Overview(request, choices)
    name = f"{TEMPLATE}#{partial}" if partial else TEMPLATE
    return _with_etag(render(request, name, overview.build()), overview.etag)


@require_GET
def overview(request):
    choices = Choices.from_query(request.GET)
    # The controls swap the body in place (the search box keeps its focus); anything else gets the page.
    partial = "body" if wants_partial(request) and request.htmx.target == "overview-body" else None
    return _render_overview(request, choices, partial=partial)


@require_GET
def overview_hx(request):
    """The live refresh: 304 when nothing changed, else only the changed fragments as out-of-band swaps."""
    if not wants_partial(request):
        return overview(request)
    choices = Choices.from_query(request.GET)
    overview_now = Overview(request, choices)
    held = request.headers.get("If-None-Match", "").strip('"')
    if held and held == overview_now.etag:
        return _with_etag(HttpResponseNotModified(), overview_now.etag)
    context = overview_now.build()
    before = cache.get(f"dashboard:overview:sent:{held}") if held else None
    if before is None or before["layout"] != context["layout"]:
        return _with_etag(render(request, f"{TEMPLATE}#body", {**context, "oob": True}), overview_now.etag)
    changed = {part for part, digest in context["digests"].items() if before["parts"].get(part) != digest}
    html = [_oob(context["totals_html"])] if "totals" in changed else []
    ids = [int(part) for part in changed if part != "totals"]
    fragments = dict(zip(context["shown_ids"], context["fragments"], strict=True))
    html += [_oob(fragments[pk], row=choices.view == "table") for pk in ids if pk in fragments]
    return _with_etag(HttpResponse("".join(html)), overview_now.etag)


def _oob(html: str, *, row: bool = False) -> str:
    """An out-of-band swap of the fragment's own element; table rows travel inside <template> to survive parsing."""
    tagged = html.replace(">", ' hx-swap-oob="outerHTML">', 1)
    return f"<template>{tagged}</template>" if row else tagged


@require_POST
def endpoint_pin(request, pk):
    """Pin (pinned=1) or unpin an endpoint for this user, then show the overview as it was, with the change."""
    try:
        endpoint = selectors.endpoint_get(pk)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None
    preferences.endpoint_pin_set(user=request.user, endpoint=endpoint, pinned=request.POST.get("pinned") == "1")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = "/"
    if wants_partial(request):
        choices = Choices.from_query(QueryDict(urlsplit(back).query))
        return _render_overview(request, choices, partial="body")
    return redirect(back)
