"""Jobs: the filtered list (keyset cursors), one job, its stream chunks, exports, and the actions the pages offer."""

from datetime import UTC, datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema, Status

from dashboard.forms import RANGES
from jobs import selectors, services
from jobs.costs import job_cost, price_text
from jobs.models import Endpoint, Job

from .. import exports, idempotency
from ..auth import client_ip, operator_required
from ..errors import ApiError, from_action_error
from ..schemas import BODY_ERRORS, COMMON_ERRORS, ChunkPage, Error, JobDetail, JobPage, SubmitIn, TrackIn

router = Router(tags=["jobs"])

ACTION_ERRORS = {403: Error, 404: Error, 409: Error, 422: Error, 502: Error}


class JobQuery(Schema):
    """The jobs page's filters, by the same names it puts in its URL."""

    endpoint: int | None = Field(None, description="An endpoint id.")
    status: str = Field("", max_length=40, description="One status, or 'active' for every job not finished.")
    range: Literal["", "15m", "1h", "24h", "7d", "custom"] = Field(
        "", description="The page's time range: created in the last 15m, 1h, 24h or 7d (overrides since/until)."
    )
    since: datetime | None = Field(None, description="Created at or after (ISO 8601; UTC when no offset).")
    until: datetime | None = Field(None, description="Created before.")
    by: str = Field("", max_length=150, description="The submitter's username.")
    q: str = Field("", max_length=500, description="A RunPod job id (exact), or text to find in inputs.")

    def filters(self) -> selectors.JobFilters:
        user_id = None
        if self.by:
            # An unknown name matches no job, as on the page.
            user_id = get_user_model().objects.filter(username=self.by).values_list("id", flat=True).first() or 0
        since, until = _utc(self.since, "since"), _utc(self.until, "until")
        if self.range in RANGES:
            since, until = timezone.now() - RANGES[self.range], None
        return selectors.JobFilters(
            endpoint_id=self.endpoint,
            status=self.status.strip(),
            since=since,
            until=until,
            user_id=user_id,
            q=self.q.strip(),
        )


class PageQuery(Schema):
    cursor: str = Field("", description="next_cursor of the previous page.")
    limit: int = Field(50, ge=1, le=200)


class ChunkQuery(Schema):
    after: int = Field(-1, ge=-1, le=2**31, description="Chunks with seq greater than this.")
    limit: int = Field(200, ge=1, le=1000)


def _utc(moment, field):
    """The moment in UTC (UTC when it has no offset). PostgreSQL refuses offsets past ±15:59, which ISO 8601 allows,
    so the offset is applied here; a moment that leaves the calendar once applied is the caller's error."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ApiError(422, "invalid", f"{field} is outside the dates this API can store.", field=field) from None


def decode_cursor(text: str):
    if not text:
        return None
    cursor = selectors.Cursor.decode(text)
    if cursor is None:
        raise ApiError(422, "invalid", "cursor is not one this API returned.", field="cursor")
    return cursor


def job_row(job, now=None) -> dict:
    cost = job_cost(job, now=now or timezone.now())
    return {
        "id": job.pk,
        "runpod_id": job.runpod_id,
        "endpoint": {"id": job.endpoint.pk, "name": job.endpoint.name},
        "status": job.status,
        "mode": job.mode,
        "streaming": job.streaming,
        "tracked": job.tracked,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "delay_ms": job.delay_ms,
        "execution_ms": job.execution_ms,
        "submitted_by": job.submitted_by.username if job.submitted_by else None,
        "expired": job.expired,
        "not_found": job.not_found,
        "cost_usd": price_text(cost.amount),
        "cost_so_far": cost.so_far,
    }


@router.get(
    "/jobs",
    response={**COMMON_ERRORS, 200: JobPage, 422: Error},
    summary="Jobs, newest first, filtered as on the jobs page",
)
def job_list(request, query: Query[JobQuery], page: Query[PageQuery]):
    result = selectors.job_list(query.filters(), after=decode_cursor(page.cursor), limit=page.limit)
    now = timezone.now()
    return {
        "jobs": [job_row(job, now) for job in result.jobs],
        # A text search that read its window without filling a page goes on from where it stopped.
        "next_cursor": result.older or result.scan_more,
        "search": result.search,
        "scanned_to": result.scanned_to,
    }


@router.get(
    "/jobs/export",
    url_name="job_export",
    response={**COMMON_ERRORS, 200: None, 422: Error},
    summary="Every job matching the filters, as CSV or NDJSON (streamed)",
    description=exports.COLUMNS_DOC,
)
def job_export(request, query: Query[JobQuery], format: Literal["csv", "ndjson"] = "csv"):
    return exports.export_response(query.filters(), format)


def job_or_404(job_id) -> Job:
    try:
        return selectors.job_detail(job_id)
    except Job.DoesNotExist:
        raise Http404("No such job.") from None


def job_detail_out(job) -> dict:
    return {
        **job_row(job),
        "input": job.input,
        "output": job.output,
        "has_output": job.has_output,
        "progress": job.progress,
        "error": job.error if job.error is not None else (job.error_raw or None),
        "submit_error": job.submit_error,
        "webhook": job.webhook,
        "policy": job.policy,
        "worker_id": job.worker_id,
        "retries": job.retries,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "archived": job.archived,
        "archived_at": job.archived_at,
        "expires_at": job.expires_at,
        "stream_chunks": job.stream_seq,
        "transitions": selectors.job_transitions(job),
        "parent_id": job.parent_id,
    }


@router.get(
    "/jobs/{int:job_id}", response={**COMMON_ERRORS, 200: JobDetail, 404: Error}, summary="One job, everything stored"
)
def job_get(request, job_id: int):
    return job_detail_out(job_or_404(job_id))


@router.get(
    "/jobs/{int:job_id}/chunks",
    response={**COMMON_ERRORS, 200: ChunkPage, 404: Error},
    summary="A streaming job's chunks, in order",
)
def job_chunks(request, job_id: int, query: Query[ChunkQuery]):
    job = job_or_404(job_id)
    chunks = selectors.job_chunks(job, after=query.after, limit=query.limit)
    last = chunks[-1].seq if chunks else query.after
    return {"chunks": chunks, "next_after": last if last >= 0 else None}


def _endpoint(pk) -> Endpoint:
    endpoint = Endpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise ApiError(422, "invalid", "No endpoint has that id.", field="endpoint")
    return endpoint


def _parent(pk) -> Job | None:
    if pk is None:
        return None
    try:
        return selectors.job_detail(pk)
    except Job.DoesNotExist:
        raise ApiError(422, "invalid", "No job has that id, so it cannot be the parent.", field="parent") from None


@router.post(
    "/jobs",
    response={**COMMON_ERRORS, **BODY_ERRORS, 201: JobDetail, 200: JobDetail, **ACTION_ERRORS},
    summary="Submit a job (operators); Idempotency-Key makes retries safe; parent makes it an edit and run",
)
def job_submit(request, payload: SubmitIn, idempotency_key: str = Header("", alias="Idempotency-Key")):
    operator_required(request, "submit")
    endpoint = _endpoint(payload.endpoint)
    parent = _parent(payload.parent)

    def submit():
        try:
            return services.job_submit(
                endpoint=endpoint,
                input=payload.input,
                mode=payload.mode,
                streaming=payload.stream,
                webhook=payload.webhook,
                policy=payload.policy,
                user=request.user,
                remote_addr=client_ip(request),
                parent=parent,
            )
        except services.ActionError as exc:
            raise from_action_error(exc) from exc

    if not idempotency_key:
        return Status(201, job_detail_out(job_or_404(submit().pk)))
    key = idempotency.check_key(idempotency_key)
    job, replayed = idempotency.submit_once(user=request.user, key=key, body=request.body, submit=submit)
    return Status(200 if replayed else 201, job_detail_out(job_or_404(job.pk)))


@router.post(
    "/jobs/track",
    response={**COMMON_ERRORS, **BODY_ERRORS, 201: JobDetail, **ACTION_ERRORS},
    summary="Track a job submitted elsewhere",
)
def job_track(request, payload: TrackIn):
    operator_required(request, "track")
    endpoint = _endpoint(payload.endpoint)
    try:
        job = services.job_track(
            endpoint=endpoint,
            runpod_id=payload.runpod_id,
            streaming=payload.stream,
            user=request.user,
            remote_addr=client_ip(request),
        )
    except services.ActionError as exc:
        raise from_action_error(exc) from exc
    return Status(201, job_detail_out(job_or_404(job.pk)))


def _act(request, job_id, action, service):
    operator_required(request, action)
    job = job_or_404(job_id)
    try:
        result = service(job=job, user=request.user, remote_addr=client_ip(request))
    except services.ActionError as exc:
        raise from_action_error(exc, wrong_state=True) from exc
    return job_detail_out(job_or_404(result.pk))


@router.post(
    "/jobs/{int:job_id}/cancel", response={**COMMON_ERRORS, 200: JobDetail, **ACTION_ERRORS}, summary="Cancel at RunPod"
)
def job_cancel(request, job_id: int):
    return _act(request, job_id, "cancel", services.job_cancel)


@router.post(
    "/jobs/{int:job_id}/retry",
    response={**COMMON_ERRORS, 200: JobDetail, **ACTION_ERRORS},
    summary="Retry a failed or timed-out job",
)
def job_retry(request, job_id: int):
    return _act(request, job_id, "retry", services.job_retry)


@router.post(
    "/jobs/{int:job_id}/run-again",
    response={**COMMON_ERRORS, 201: JobDetail, **ACTION_ERRORS},
    summary="A new job with the same input and options",
)
def job_run_again(request, job_id: int):
    return Status(201, _act(request, job_id, "submit", services.job_run_again))
