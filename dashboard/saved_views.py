"""Saved views: jobs-list filters kept under a name, private to their owner or shared with the team.

What is stored is the jobs page's filter as its form reads it (known fields only, each validated, written back
the way the page's URL carries it), so opening a view is a link to the jobs page and a view is "active" when the
page's filter equals it. The nav shows each view's count of active jobs: one query for all the views a page shows,
kept in the cache a few seconds so every page load does not count again. The pages and the API both call this
module, with the same roles and audit.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import datetime
from typing import NoReturn
from urllib.parse import urlencode

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Func, IntegerField, Q, Subquery
from django.db.models.functions import Lower
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from dashboard.forms import RANGES, JobFilterForm
from jobs import selectors, services
from jobs.constants import PENDING, is_final
from jobs.models import Job

from .models import SavedView

# The jobs page's filter fields, in the order a view's link carries them.
FILTER_FIELDS = ("q", "endpoint", "status", "range", "since", "until", "by", "group")
NAME_MAX = SavedView._meta.get_field("name").max_length
# Bounds on how many views there can be, so the menu (and its one counting query) stays small.
PRIVATE_MAX = 20
TEAM_MAX = 20
# Counts are this fresh at most; the overview's figures refresh every 5 s too.
COUNT_SECONDS = 5
OPERATE = "jobs.operate_job"


class SavedViewError(services.InputError):
    """A name or filter refused, with the form field (or API field) it belongs to."""


class SavedViewNameTaken(SavedViewError):
    """The name is already used in its scope (the API answers 409)."""


class SavedViewDenied(Exception):
    """The user's role does not allow this (a viewer and a team view)."""


def can_share(user) -> bool:
    """Operators and admins keep views for the team; viewers only their own."""
    return user.is_authenticated and user.has_perm(OPERATE)


# ---- the filter, normalised ----


def _as_text(value) -> str:
    if isinstance(value, datetime):
        # Local wall time without an offset, as the page's datetime-local fields send it (and read it back).
        local = timezone.localtime(value)
        return local.strftime("%Y-%m-%dT%H:%M" if not (local.second or local.microsecond) else "%Y-%m-%dT%H:%M:%S")
    return str(value)


def filter_normalise(data, *, users=None) -> tuple[dict, dict]:
    """The known filter fields of data (a query dict or a plain dict) that the jobs page's form accepts, as text;
    and the errors of the ones it refused, by field."""
    if users is None:
        users = selectors.users_for_filter()
    if not isinstance(data, QueryDict):
        query = QueryDict(mutable=True)
        for key, value in data.items():
            query[key] = "" if value is None else str(value)
        data = query
    return filter_of_form(JobFilterForm(data, users=users))


def filter_of_form(form: JobFilterForm) -> tuple[dict, dict]:
    """What filter_normalise returns, from the jobs page's own (bound or empty) form."""
    values = form.valid_data()
    found = {name: _as_text(values[name]) for name in FILTER_FIELDS if values.get(name) not in (None, "")}
    if found.get("range") in RANGES:
        # A preset range overrides the dates (the form ignores them), so they are not part of the view.
        found.pop("since", None)
        found.pop("until", None)
    errors = {name: " ".join(messages) for name, messages in form.errors.items() if name in FILTER_FIELDS}
    return found, errors


def filter_query(filters: dict) -> str:
    return urlencode([(name, filters[name]) for name in FILTER_FIELDS if name in filters])


def view_url(view: SavedView) -> str:
    query = filter_query(view.filters)
    return reverse("job_list") + (f"?{query}" if query else "")


# ---- reads ----


def views_visible(user):
    """The team's views and the user's own, team first, each by name."""
    if not user.is_authenticated:
        return SavedView.objects.none()
    team_first = F("owner").asc(nulls_first=True)
    return SavedView.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by(team_first, Lower("name"), "id")


def views_for_menu(user) -> list[SavedView]:
    """What the nav shows: bounded by PRIVATE_MAX + TEAM_MAX, since no more can be saved."""
    return list(views_visible(user)[: PRIVATE_MAX + TEAM_MAX])


def view_visible_or_none(user, pk) -> SavedView | None:
    """A view the user may see (theirs or the team's); someone else's private view is as absent as a missing one."""
    return views_visible(user).filter(pk=pk).first()


def views_matching(views, filters: dict) -> list[SavedView]:
    """The views whose filter is exactly the page's."""
    return [view for view in views if view.filters == filters]


def _count_key(view: SavedView) -> str:
    digest = hashlib.blake2b(json.dumps(view.filters, sort_keys=True).encode(), digest_size=8).hexdigest()
    return f"dashboard:saved_view:active:{view.pk}:{digest}"


def _active_jobs(filters: dict, users, now):
    """The query of a view's jobs that are still active (the jobs page's "Active (not finished)"), or None when its
    status filter names a finished state, which no active job has."""
    if is_final(filters.get("status", "")):
        return None
    form = JobFilterForm(QueryDict(filter_query(filters)), users=users)
    job_filters = form.filters(now=now)
    # The same test as the page's "active" status: the partial index job_due holds exactly these rows.
    qs = job_filters.apply(Job.objects.filter(Q(next_poll_at__isnull=False) | Q(status=PENDING)))
    q = job_filters.q.strip()
    if q:
        # The page finds an exact job id, else the text in inputs, outputs and errors; either counts here.
        texts, found = selectors.job_text_match(q)
        qs = qs.annotate(**texts).filter(Q(runpod_id=q) | found)
    return qs


def _count_of(qs) -> Subquery:
    """COUNT of a query as a scalar subquery: a plain aggregate over the index, without GROUP BY."""
    counted = qs.order_by().annotate(n=Func("id", function="COUNT", output_field=IntegerField()))
    return Subquery(counted.values("n")[:1])


def views_active_counts(views, *, now=None) -> dict[int, int]:
    """Each view's count of active jobs, by view id: from the cache when counted in the last COUNT_SECONDS, the
    rest in one query, one scalar COUNT per view (no `id IN (...)` sets to hash, however many jobs are active)."""
    views = list(views)
    keys = {view.pk: _count_key(view) for view in views}
    cached = cache.get_many(list(keys.values())) if keys else {}
    counts = {pk: cached[key] for pk, key in keys.items() if key in cached}
    missing = [view for view in views if view.pk not in counts]
    if not missing:
        return counts
    now = now or timezone.now()
    users = selectors.users_for_filter() if any("by" in view.filters for view in missing) else ()
    columns = {}
    for view in missing:
        qs = _active_jobs(view.filters, users, now)
        if qs is not None:
            columns[f"v{view.pk}"] = _count_of(qs)
    # The counts ride on one row of the views' own table (any of them), so they come back in one round trip.
    row = SavedView.objects.filter(pk__in=[view.pk for view in missing]).values(**columns)[:1] if columns else []
    found = next(iter(row), {})
    for view in missing:
        counts[view.pk] = found.get(f"v{view.pk}") or 0
    cache.set_many({keys[view.pk]: counts[view.pk] for view in missing}, COUNT_SECONDS)
    return counts


# ---- writes ----


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise SavedViewError("Give the view a name.", field="name")
    if len(name) > NAME_MAX:
        raise SavedViewError(f"Keep the name to {NAME_MAX} characters (it has {len(name)}).", field="name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise SavedViewError("The name holds invisible or control characters.", field="name")
    return name


def _check_name_free(name: str, *, owner, exclude_pk=None) -> None:
    same = (
        SavedView.objects.filter(name__iexact=name, owner=owner)
        if owner
        else SavedView.objects.filter(name__iexact=name, owner__isnull=True)
    )
    if exclude_pk is not None:
        same = same.exclude(pk=exclude_pk)
    if same.exists():
        whose = "You already have" if owner else "The team already has"
        raise SavedViewNameTaken(f"{whose} a view named “{name}”: choose another name.", field="name")


def _save(view: SavedView, *, owner) -> None:
    """Write, turning a name taken by a concurrent save (the unique constraint) into the same refusal."""
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        _check_name_free(view.name, owner=owner, exclude_pk=view.pk)
        raise


def _deny(*, user, action, message, remote_addr) -> NoReturn:
    services.audit_record(action=action, user=user, outcome="denied", message=message, remote_addr=remote_addr)
    raise SavedViewDenied(message)


def saved_view_create(*, user, name: str, filters: dict, team: bool = False, remote_addr=None) -> SavedView:
    """Save a filter under a name.

    1. Only operators and admins save for the team (a refused attempt is audited as denied).
    2. The name is tidied (spaces), checked, and must be free in its scope (the user's, or the team's).
    3. At most PRIVATE_MAX views per person and TEAM_MAX for the team.
    4. A team view is audited.
    """
    if team and not can_share(user):
        _deny(
            user=user,
            action="saved_view_create",
            message="A viewer cannot save a view for the team.",
            remote_addr=remote_addr,
        )
    name = _clean_name(name)
    owner = None if team else user
    _check_name_free(name, owner=owner)
    scope = SavedView.objects.filter(owner=owner) if owner else SavedView.objects.filter(owner__isnull=True)
    limit = PRIVATE_MAX if owner else TEAM_MAX
    if scope.count() >= limit:
        whose = "You have" if owner else "The team has"
        raise SavedViewError(f"{whose} {limit} saved views already: delete one first.", field="name")
    view = SavedView(name=name, owner=owner, created_by=user, filters=filters)
    _save(view, owner=owner)
    if team:
        services.audit_record(
            action="saved_view_create",
            user=user,
            message=f"Saved the team view “{name}”: {filter_query(filters) or 'every job'}",
            detail={"view": view.pk, "filters": filters},
            remote_addr=remote_addr,
        )
    return view


def _check_may_change(view: SavedView, *, user, action, remote_addr) -> None:
    """Owners change their private views; a team view is changed by operators and admins only."""
    if view.is_team and not can_share(user):
        _deny(
            user=user,
            action=action,
            message=f"A viewer cannot change the team view “{view.name}”.",
            remote_addr=remote_addr,
        )
    if not view.is_team and view.owner_id != user.pk:
        raise SavedView.DoesNotExist  # someone else's private view: the caller shows it as missing


def saved_view_rename(*, view: SavedView, user, name: str, remote_addr=None) -> SavedView:
    _check_may_change(view, user=user, action="saved_view_rename", remote_addr=remote_addr)
    old = view.name
    view.name = _clean_name(name)
    _check_name_free(view.name, owner=view.owner, exclude_pk=view.pk)
    _save(view, owner=view.owner)
    if view.is_team and old != view.name:
        services.audit_record(
            action="saved_view_rename",
            user=user,
            message=f"Renamed the team view “{old}” to “{view.name}”",
            detail={"view": view.pk},
            remote_addr=remote_addr,
        )
    return view


def saved_view_delete(*, view: SavedView, user, remote_addr=None) -> None:
    _check_may_change(view, user=user, action="saved_view_delete", remote_addr=remote_addr)
    pk, name, filters = view.pk, view.name, view.filters
    view.delete()
    if view.is_team:
        services.audit_record(
            action="saved_view_delete",
            user=user,
            message=f"Deleted the team view “{name}”: {filter_query(filters) or 'every job'}",
            detail={"view": pk, "filters": filters},
            remote_addr=remote_addr,
        )
