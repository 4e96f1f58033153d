"""The rules: each reads a few indexed aggregates and returns a Finding for every condition that holds now.

Findings carry the sentence a person receives and the evidence behind it; lifecycle.py turns them into alerts.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from alerts.models import JobFailure, LostResult, RuleKind
from jobs.constants import FAILED_STATES, IN_PROGRESS, IN_QUEUE
from jobs.models import Endpoint, HealthSnapshot, Job
from jobs.services.state import RUN_RETENTION, RUNSYNC_RETENTION

from .diagnosis import diagnose_queue
from .heartbeat import polling_stall
from .params import RuleBook

# RunPod's default executionTimeout (runpod-api.md, Request options) and its smallest.
DEFAULT_EXECUTION_TIMEOUT = timedelta(milliseconds=600_000)
MIN_EXECUTION_TIMEOUT = timedelta(milliseconds=5_000)
SAMPLE_JOBS = 5


@dataclass
class Finding:
    kind: str
    key: str
    summary: str
    endpoint_id: int | None = None
    evidence: dict = field(default_factory=dict)


@dataclass
class Context:
    now: object
    book: RuleBook
    endpoints: dict  # id -> Endpoint (enabled ones)
    stall: object = None


def key_for(kind, endpoint_id=None) -> str:
    return f"{kind}:{endpoint_id}" if endpoint_id is not None else str(kind)


def rules_evaluate(now=None, *, book=None) -> list[Finding]:
    now = now or timezone.now()
    ctx = Context(now=now, book=book or RuleBook(), endpoints={e.pk: e for e in Endpoint.objects.filter(enabled=True)})
    findings = []
    for rule in RULES:
        findings.extend(rule(ctx))
    return findings


def _enabled(ctx, kind):
    return [e for e in ctx.endpoints.values() if ctx.book.params(kind, e.pk).enabled]


def _job_links(ids):
    return [reverse("job_detail", args=[pk]) for pk in ids[:SAMPLE_JOBS]]


# --- Polling stalled ------------------------------------------------------------------------------------------


def rule_polling_stalled(ctx):
    params = ctx.book.params(RuleKind.POLLING_STALLED)
    ctx.stall = polling_stall(ctx.now, threshold=params.threshold)
    if not params.enabled or ctx.stall is None:
        return []
    evidence = {"seconds_since_round": ctx.stall.seconds, "jobs_waiting": ctx.stall.waiting}
    return [Finding(RuleKind.POLLING_STALLED, key_for(RuleKind.POLLING_STALLED), ctx.stall.reason, None, evidence)]


# --- Stuck queue ----------------------------------------------------------------------------------------------


def rule_stuck_queue(ctx):
    endpoints = {e.pk: e for e in _enabled(ctx, RuleKind.STUCK_QUEUE)}
    if not endpoints:
        return []
    queued = (
        Job.objects.filter(status=IN_QUEUE, endpoint_id__in=list(endpoints))
        .values("endpoint_id")
        .annotate(n=Count("id"), oldest=Min(Coalesce("submitted_at", "created_at")))
    )
    findings = []
    for row in queued:
        endpoint = endpoints[row["endpoint_id"]]
        threshold = ctx.book.params(RuleKind.STUCK_QUEUE, endpoint.pk).threshold
        if row["oldest"] is None or (ctx.now - row["oldest"]).total_seconds() < threshold:
            continue
        since = ctx.now - timedelta(seconds=threshold)
        if not endpoint.auth_failed_at and not endpoint.not_found_at and _queue_moving(endpoint, since):
            continue  # busy but draining: nothing wrong
        waited = (ctx.now - row["oldest"]).total_seconds()
        findings.append(_stuck_finding(ctx, endpoint, row["n"], waited, threshold))
    return findings


def _queue_moving(endpoint, since) -> bool:
    """Something finished or started here since `since`, or RunPod's own counters say it finished jobs meanwhile
    (our polling can trail a fast-draining queue; /health does not)."""
    if Job.objects.filter(endpoint=endpoint, finished_at__gte=since).exists():
        return True
    if Job.objects.filter(endpoint=endpoint, status=IN_PROGRESS, started_at__gte=since).exists():
        return True
    snapshots = HealthSnapshot.objects.filter(endpoint=endpoint).order_by("-taken_at")
    latest = snapshots.values_list("jobs_completed", "jobs_failed").first()
    before = snapshots.filter(taken_at__lt=since).values_list("jobs_completed", "jobs_failed").first()
    return latest is not None and before is not None and sum(latest) > sum(before)


def _stuck_finding(ctx, endpoint, queued, waited, threshold):
    overdue = 0
    if ctx.stall is None:
        late = ctx.now - timedelta(seconds=max(60.0, threshold / 2))
        overdue = len(Job.objects.filter(endpoint=endpoint, next_poll_at__lt=late).values_list("pk", flat=True)[:100])
    diagnosis = diagnose_queue(endpoint, stall=ctx.stall, overdue=overdue, queued=queued, now=ctx.now)
    summary = f"{endpoint.name}: {queued} job(s) queued, the oldest for {waited:.0f} s. {diagnosis.sentence}"
    evidence = {
        "queued": queued,
        "oldest_wait_seconds": round(waited),
        "threshold_seconds": threshold,
        "cause": diagnosis.cause,
        "diagnosis": diagnosis.sentence,
        "health": diagnosis.health,
        "links": [reverse("endpoint_detail", args=[endpoint.pk])],
    }
    return Finding(RuleKind.STUCK_QUEUE, key_for(RuleKind.STUCK_QUEUE, endpoint.pk), summary, endpoint.pk, evidence)


# --- Failure rate ---------------------------------------------------------------------------------------------


def _by_window(ctx, kind):
    """Enabled endpoints grouped by their window, so each distinct window is one grouped query, not one per endpoint."""
    groups: dict[int, list] = {}
    for endpoint in _enabled(ctx, kind):
        groups.setdefault(ctx.book.params(kind, endpoint.pk).window_seconds, []).append(endpoint)
    return groups


def rule_failure_rate(ctx):
    findings = []
    for window, endpoints in _by_window(ctx, RuleKind.FAILURE_RATE).items():
        since = ctx.now - timedelta(seconds=window)
        rows = (
            Job.objects.filter(endpoint_id__in=[e.pk for e in endpoints], finished_at__gte=since)
            .values("endpoint_id")
            .annotate(total=Count("id"), failed=Count("id", filter=Q(status__in=FAILED_STATES)))
        )
        counts = {row["endpoint_id"]: row for row in rows}
        for endpoint in endpoints:
            params = ctx.book.params(RuleKind.FAILURE_RATE, endpoint.pk)
            row = counts.get(endpoint.pk, {"total": 0, "failed": 0})
            total, failed = row["total"], row["failed"]
            if total < max(1, params.min_count) or failed * 100 < params.threshold * total:
                continue
            findings.append(_failure_finding(endpoint, failed, total, since, params))
    return findings


def top_error_group(endpoint_id, since):
    row = (
        JobFailure.objects.filter(endpoint_id=endpoint_id, at__gte=since)
        .values("group_id", "group__error_type", "group__message")
        .annotate(n=Count("job_id"))
        .order_by("-n")
        .first()
    )
    return row


def _failure_finding(endpoint, failed, total, since, params):
    share = 100 * failed / total
    top = top_error_group(endpoint.pk, since)
    minutes = params.window_seconds / 60
    summary = f"{endpoint.name}: {failed} of {total} jobs failed or timed out in {minutes:.0f} min ({share:.0f} %)."
    evidence = {
        "failed": failed,
        "finished": total,
        "percent": round(share, 1),
        "window_seconds": params.window_seconds,
    }
    links = [reverse("endpoint_detail", args=[endpoint.pk])]
    if top:
        title = f"{top['group__error_type']}: {top['group__message']}".rstrip(": ")
        summary += f" Most common error ({top['n']}x): {title}"
        evidence["top_group"] = {"id": top["group_id"], "title": title, "count": top["n"]}
        links.append(f"{reverse('alerts:failures')}?group={top['group_id']}")
    evidence["links"] = links
    return Finding(RuleKind.FAILURE_RATE, key_for(RuleKind.FAILURE_RATE, endpoint.pk), summary, endpoint.pk, evidence)


# --- Runaway jobs ---------------------------------------------------------------------------------------------


def rule_runaway(ctx):
    endpoints = {e.pk: e for e in _enabled(ctx, RuleKind.RUNAWAY)}
    running = Job.objects.filter(status=IN_PROGRESS, endpoint_id__in=list(endpoints))
    by_endpoint: dict[int, dict] = {}
    for pk, endpoint_id, started_at, policy in running.filter(
        started_at__lt=ctx.now - MIN_EXECUTION_TIMEOUT
    ).values_list("pk", "endpoint_id", "started_at", "policy"):
        grace = timedelta(seconds=ctx.book.params(RuleKind.RUNAWAY, endpoint_id).threshold)
        if started_at + _execution_timeout(policy) + grace < ctx.now:
            by_endpoint.setdefault(endpoint_id, {"timeout": [], "cancel": []})["timeout"].append(pk)
    # Running jobs we cancelled: the running set is small (one per busy worker), each joined on its transitions.
    cancelled = running.annotate(cancel_at=Max("transitions__at", filter=Q(transitions__source="cancel"))).filter(
        cancel_at__isnull=False, last_polled_at__isnull=False
    )
    for pk, endpoint_id, cancel_at, last_polled in cancelled.values_list(
        "pk", "endpoint_id", "cancel_at", "last_polled_at"
    )[:1000]:
        cycles = timedelta(seconds=2 * endpoints[endpoint_id].poll_running_seconds)
        if cancel_at < ctx.now - cycles and last_polled > cancel_at:
            by_endpoint.setdefault(endpoint_id, {"timeout": [], "cancel": []})["cancel"].append(pk)
    return [_runaway_finding(endpoints[e], jobs) for e, jobs in by_endpoint.items()]


def _execution_timeout(policy) -> timedelta:
    value = (policy or {}).get("executionTimeout") if isinstance(policy, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(milliseconds=value)
    return DEFAULT_EXECUTION_TIMEOUT


def _runaway_finding(endpoint, jobs):
    parts = []
    if jobs["timeout"]:
        parts.append(f"{len(jobs['timeout'])} job(s) still IN_PROGRESS past their executionTimeout")
    if jobs["cancel"]:
        parts.append(f"{len(jobs['cancel'])} job(s) still running after we cancelled them (still billing)")
    summary = f"{endpoint.name}: {' and '.join(parts)}."
    evidence = {
        "past_timeout": jobs["timeout"][:50],
        "ignored_cancel": jobs["cancel"][:50],
        "links": _job_links(jobs["cancel"] + jobs["timeout"]),
    }
    return Finding(RuleKind.RUNAWAY, key_for(RuleKind.RUNAWAY, endpoint.pk), summary, endpoint.pk, evidence)


# --- Completed without output ---------------------------------------------------------------------------------


def rule_no_output(ctx):
    findings = []
    for window, endpoints in _by_window(ctx, RuleKind.NO_OUTPUT).items():
        since = ctx.now - timedelta(seconds=window)
        empty = Job.objects.filter(
            endpoint_id__in=[e.pk for e in endpoints], finished_at__gte=since, completed_without_output=True
        )
        counts = dict(empty.values("endpoint_id").annotate(n=Count("id")).values_list("endpoint_id", "n"))
        for endpoint in endpoints:
            count = counts.get(endpoint.pk, 0)
            if count <= ctx.book.params(RuleKind.NO_OUTPUT, endpoint.pk).threshold:
                continue
            ids = list(empty.filter(endpoint=endpoint).order_by("-finished_at").values_list("pk", flat=True)[:50])
            summary = f"{endpoint.name}: {count} job(s) COMPLETED without any output in {window / 60:.0f} min."
            evidence = {"count": count, "window_seconds": window, "links": _job_links(ids)}
            key = key_for(RuleKind.NO_OUTPUT, endpoint.pk)
            findings.append(Finding(RuleKind.NO_OUTPUT, key, summary, endpoint.pk, evidence))
    return findings


# --- Results at risk ------------------------------------------------------------------------------------------


def rule_results_at_risk(ctx):
    lost: dict[int, list] = {}
    for window, endpoints in _by_window(ctx, RuleKind.RESULTS_AT_RISK).items():
        rows = LostResult.objects.filter(
            endpoint_id__in=[e.pk for e in endpoints], at__gte=ctx.now - timedelta(seconds=window)
        ).order_by("-at")
        for job_id, endpoint_id in rows.values_list("job_id", "endpoint_id")[:5000]:
            lost.setdefault(endpoint_id, []).append(job_id)
    endpoints = {e.pk: e for e in _enabled(ctx, RuleKind.RESULTS_AT_RISK)}
    # Unarchived finished jobs are still due for a poll, so the partial index of due jobs holds them all.
    at_risk: dict[int, list] = {}
    unarchived = Job.objects.filter(
        endpoint_id__in=list(endpoints), next_poll_at__isnull=False, archived=False, finished_at__isnull=False
    )
    for pk, endpoint_id, mode, finished_at in unarchived.values_list("pk", "endpoint_id", "mode", "finished_at")[:5000]:
        share = ctx.book.params(RuleKind.RESULTS_AT_RISK, endpoint_id).threshold / 100
        retention = RUNSYNC_RETENTION if mode == "runsync" else RUN_RETENTION
        if finished_at < ctx.now - retention * share:
            at_risk.setdefault(endpoint_id, []).append(pk)
    return [
        _risk_finding(endpoints[e], lost.get(e, []), at_risk.get(e, []), ctx.book.params(RuleKind.RESULTS_AT_RISK, e))
        for e in sorted(set(lost) | set(at_risk))
        if e in endpoints
    ]


def _risk_finding(endpoint, lost, at_risk, params):
    parts = []
    if lost:
        parts.append(f"{len(lost)} job(s) expired at RunPod before we archived them: their results are lost")
    if at_risk:
        parts.append(f"{len(at_risk)} finished job(s) not archived after {params.threshold:.0f} % of their retention")
    summary = f"{endpoint.name}: {' and '.join(parts)}."
    evidence = {"lost": lost[:50], "at_risk": at_risk[:50], "links": _job_links(lost + at_risk)}
    key = key_for(RuleKind.RESULTS_AT_RISK, endpoint.pk)
    return Finding(RuleKind.RESULTS_AT_RISK, key, summary, endpoint.pk, evidence)


# Polling first: the stuck-queue diagnosis reads the stall it found.
RULES = (rule_polling_stalled, rule_stuck_queue, rule_failure_rate, rule_runaway, rule_no_output, rule_results_at_risk)
