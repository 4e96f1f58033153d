"""Saved views of the jobs list: the team's and the caller's own, each with its count of active jobs; saving,
renaming and deleting them with the pages' roles (a team view takes an operator) and audit."""

from datetime import datetime

from django.http import Http404
from ninja import Field, Router, Schema, Status

from dashboard import saved_views

from ..auth import client_ip
from ..errors import ApiError
from ..schemas import BODY_ERRORS, COMMON_ERRORS, Error

router = Router(tags=["saved views"])

FILTERS_HELP = (
    "The jobs page's filters by the names its URL uses: q, endpoint (an id), status (one status or 'active'), "
    "range (15m, 1h, 24h, 7d, custom), since and until (ISO 8601), by (a username), group (an error group id)."
)


class SavedViewOut(Schema):
    id: int
    name: str
    team: bool = Field(description="Shared with the team (saved by an operator); otherwise only its owner sees it.")
    filters: dict[str, str] = Field(description=FILTERS_HELP)
    query: str = Field(description="The filters as the jobs page's query string (and /api/v1/jobs accepts it).")
    url: str = Field(description="The jobs page with this view's filter.")
    active_count: int = Field(description="Jobs matching the filter that are not finished (a few seconds fresh).")
    created_by: str | None = None
    created_at: datetime


class SavedViewIn(Schema):
    name: str = Field(max_length=1000)
    team: bool = False
    filters: dict[str, str | int | None] = Field(default_factory=dict, description=FILTERS_HELP)


class SavedViewRenameIn(Schema):
    name: str = Field(max_length=1000)


def _out(view, count) -> dict:
    return {
        "id": view.pk,
        "name": view.name,
        "team": view.is_team,
        "filters": view.filters,
        "query": saved_views.filter_query(view.filters),
        "url": saved_views.view_url(view),
        "active_count": count,
        "created_by": view.created_by.username if view.created_by else None,
        "created_at": view.created_at,
    }


def _view_or_404(request, view_id):
    view = saved_views.view_visible_or_none(request.user, view_id)
    if view is None:
        raise Http404("No such saved view.")
    return view


def _refused(exc):
    return ApiError(403, "forbidden", f"{exc} Ask an admin to add you to the Operators group.")


def _api_error(exc) -> ApiError:
    """A refused save or rename as the API answers it: the role 403, a taken name 409, a bad value 422."""
    if isinstance(exc, saved_views.SavedViewDenied):
        return _refused(exc)
    if isinstance(exc, saved_views.SavedViewNameTaken):
        return ApiError(409, "conflict", str(exc), field=exc.field)
    return ApiError(422, "invalid", str(exc), field=exc.field)


@router.get("/views", response={**COMMON_ERRORS, 200: list[SavedViewOut]}, summary="The team's views and yours")
def view_list(request):
    views = list(saved_views.views_visible(request.user).select_related("created_by"))
    counts = saved_views.views_active_counts(views)
    return [_out(view, counts.get(view.pk, 0)) for view in views]


@router.post(
    "/views",
    response={**COMMON_ERRORS, **BODY_ERRORS, 201: SavedViewOut, 403: Error, 409: Error},
    summary="Save a filter by name (for the team: operators)",
)
def view_create(request, payload: SavedViewIn):
    unknown = sorted(set(payload.filters) - set(saved_views.FILTER_FIELDS))
    if unknown:
        raise ApiError(422, "invalid", f"Unknown filter {unknown[0]!r}. {FILTERS_HELP}", field=f"filters.{unknown[0]}")
    filters, errors = saved_views.filter_normalise(payload.filters)
    if errors:
        name, message = next(iter(errors.items()))
        raise ApiError(422, "invalid", f"filters.{name}: {message}", field=f"filters.{name}")
    try:
        view = saved_views.saved_view_create(
            user=request.user, name=payload.name, filters=filters, team=payload.team, remote_addr=client_ip(request)
        )
    except (saved_views.SavedViewDenied, saved_views.SavedViewError) as exc:
        raise _api_error(exc) from exc
    return Status(201, _out(view, saved_views.views_active_counts([view])[view.pk]))


@router.patch(
    "/views/{int:view_id}",
    response={**COMMON_ERRORS, **BODY_ERRORS, 200: SavedViewOut, 403: Error, 404: Error, 409: Error},
    summary="Rename a view (yours, or the team's: operators)",
)
def view_rename(request, view_id: int, payload: SavedViewRenameIn):
    view = _view_or_404(request, view_id)
    try:
        saved_views.saved_view_rename(view=view, user=request.user, name=payload.name, remote_addr=client_ip(request))
    except (saved_views.SavedViewDenied, saved_views.SavedViewError) as exc:
        raise _api_error(exc) from exc
    return _out(view, saved_views.views_active_counts([view])[view.pk])


@router.delete(
    "/views/{int:view_id}",
    response={**COMMON_ERRORS, 204: None, 403: Error, 404: Error},
    summary="Delete a view (yours, or the team's: operators)",
)
def view_delete(request, view_id: int):
    view = _view_or_404(request, view_id)
    try:
        saved_views.saved_view_delete(view=view, user=request.user, remote_addr=client_ip(request))
    except saved_views.SavedViewDenied as exc:
        raise _refused(exc) from exc
    return Status(204, None)
