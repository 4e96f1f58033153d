"""The rules: each reads a few indexed aggregates and returns a Finding for every condition that holds now.

Findings carry the sentence a person receives and the evidence behind it; lifecycle.py turns them into alerts.
"""

from dataclasses import dataclass, field, fields
from datetime import timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from alerts.models import JobFailure, LostResult, RuleKind
from jobs.constants import DEFAULT_EXECUTION_TIMEOUT_MS, FAILED_STATES, IN_PROGRESS
from jobs.costs import execution_timeout
from jobs.models import Endpoint, Job, StatusTransition
from jobs.services.state import RUN_RETENTION, RUNSYNC_RETENTION

from .diagnosis import diagnose_queue
from .heartbeat import polling_stall
from .params import RuleBook
from .queues import queue_evidence, queued_by_endpoint

# RunPod's default executionTimeout (runpod-api.md, Request options) and its smallest.
DEFAULT_EXECUTION_TIMEOUT = timedelta(milliseconds=DEFAULT_EXECUTION_TIMEOUT_MS)
MIN_EXECUTION_TIMEOUT = timedelta(milliseconds=5_000)
SAMPLE_JOBS = 5


@dataclass(frozen=True)
class EndpointView:
    """What the rules read of an endpoint: plain values, not a model instance (no API key decrypted, no hundred
    instances built on every tick)."""

    pk: int
    name: str
    runpod_id: str
    poll_running_seconds: float
    auth_failed_at: object
    not_found_at: object


ENDPOINT_FIELDS = tuple(f.name for f in fields(EndpointView))


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
    finished: dict = field(default_factory=dict)  # window seconds -> finished_counts, read once per tick

    def finished_counts(self, window: int) -> dict[int, dict]:
        """Endpoint id -> jobs finished in the last `window` seconds: total, failed (or timed out), and COMPLETED
        without output. One grouped query per distinct window, shared by the failure-rate and no-output rules."""
        if window not in self.finished:
            rows = (
                Job.objects.filter(
                    endpoint_id__in=list(self.endpoints), finished_at__gte=self.now - timedelta(seconds=window)
                )
                .values("endpoint_id")
                .annotate(
                    total=Count("id"),
                    failed=Count("id", filter=Q(status__in=FAILED_STATES)),
                    empty=Count("id", filter=Q(completed_without_output=True)),
                )
            )
            self.finished[window] = {row["endpoint_id"]: row for row in rows}
        return self.finished[window]


def key_for(kind, endpoint_id=None) -> str:
    return f"{kind}:{endpoint_id}" if endpoint_id is not None else str(kind)


def rules_evaluate(now=None, *, book=None) -> list[Finding]:
    now = now or timezone.now()
    enabled = Endpoint.objects.filter(enabled=True).order_by("pk").values_list(*ENDPOINT_FIELDS)
    ctx = Context(now=now, book=book or RuleBook(), endpoints={row[0]: EndpointView(*row) for row in enabled})
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
    """Jobs waited past the threshold and nothing shows the queue moving (queues.py says what counts as moving)."""
    endpoints = {e.pk: e for e in _enabled(ctx, RuleKind.STUCK_QUEUE)}
    if not endpoints:
        return []
    thresholds = {pk: ctx.book.params(RuleKind.STUCK_QUEUE, pk).threshold for pk in endpoints}
    waiting = {
        pk: (count, oldest)
        for pk, (count, oldest) in queued_by_endpoint(endpoints).items()
        if (ctx.now - oldest).total_seconds() >= thresholds[pk]
    }
    if not waiting:
        return []
    # Overdue by this much is our polling being behind, not its usual lag (the poll-stalled rule's minute).
    late = ctx.now - timedelta(seconds=max(60.0, min(thresholds[pk] for pk in waiting) / 2))
    evidence = queue_evidence({pk: thresholds[pk] for pk in waiting}, now=ctx.now, late=late)
    findings = []
    for pk, (count, oldest) in waiting.items():
        endpoint, seen, threshold = endpoints[pk], evidence[pk], thresholds[pk]
        waited = (ctx.now - oldest).total_seconds()
        refused = endpoint.auth_failed_at or endpoint.not_found_at
        moving = seen.moving(ctx.now, ctx.now - timedelta(seconds=threshold))
        if not refused and (moving or not (seen.overdue or seen.seen_stuck(ctx.now, waited))):
            continue  # busy but draining, or not seen long enough to tell
        findings.append(_stuck_finding(ctx, endpoint, count, waited, threshold, seen))
    return findings


def _stuck_finding(ctx, endpoint, queued, waited, threshold, seen):
    overdue = seen.overdue if ctx.stall is None else 0
    diagnosis = diagnose_queue(
        endpoint, stall=ctx.stall, overdue=overdue, queued=queued, now=ctx.now, snapshot=seen.newest_snapshot()
    )
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
        counts = ctx.finished_counts(window)
        over = []
        for endpoint in endpoints:
            params = ctx.book.params(RuleKind.FAILURE_RATE, endpoint.pk)
            row = counts.get(endpoint.pk, {"total": 0, "failed": 0})
            total, failed = row["total"], row["failed"]
            if total >= max(1, params.min_count) and failed * 100 >= params.threshold * total:
                over.append((endpoint, failed, total, params))
        tops = top_error_groups([endpoint.pk for endpoint, *_ in over], since)
        findings += [_failure_finding(e, failed, total, tops.get(e.pk), params) for e, failed, total, params in over]
    return findings


def top_error_groups(endpoint_ids, since) -> dict[int, dict]:
    """Endpoint id -> its commonest error group since `since` (with its count `n`), one grouped query for all."""
    if not endpoint_ids:
        return {}
    rows = (
        JobFailure.objects.filter(endpoint_id__in=endpoint_ids, at__gte=since)
        .values("endpoint_id", "group_id", "group__error_type", "group__message")
        .annotate(n=Count("job_id"))
        .order_by("endpoint_id", "-n", "group_id")
    )
    tops: dict[int, dict] = {}
    for row in rows:
        tops.setdefault(row["endpoint_id"], row)
    return tops


def _failure_finding(endpoint, failed, total, top, params):
    share = 100 * failed / total
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
    running = Job.objects.filter(status=IN_PROGRESS, endpoint_id__in=list(endpoints)).order_by()
    by_endpoint: dict[int, dict] = {}
    graces = {pk: timedelta(seconds=ctx.book.params(RuleKind.RUNAWAY, pk).threshold) for pk in endpoints}
    # Only jobs older than the shortest timeout RunPod allows plus the smallest grace can be past their own.
    oldest_possible = ctx.now - MIN_EXECUTION_TIMEOUT - min(graces.values(), default=timedelta(0))
    for pk, endpoint_id, started_at, policy in running.filter(started_at__lt=oldest_possible).values_list(
        "pk", "endpoint_id", "started_at", "policy"
    ):
        grace = graces[endpoint_id]
        if started_at + _execution_timeout(policy) + grace < ctx.now:
            by_endpoint.setdefault(endpoint_id, {"timeout": [], "cancel": []})["timeout"].append(pk)
    # Running jobs we cancelled: the running set is small (one per busy worker), each joined on its transitions.
    # The newest cancel we sent to each running job (a semi-join first: most running jobs were never cancelled).
    cancels = StatusTransition.objects.filter(job_id=OuterRef("pk"), source="cancel")
    cancelled = running.filter(Exists(cancels), last_polled_at__isnull=False).annotate(
        cancel_at=Subquery(cancels.order_by("-at").values("at")[:1])
    )
    for pk, endpoint_id, cancel_at, last_polled in cancelled.values_list(
        "pk", "endpoint_id", "cancel_at", "last_polled_at"
    )[:1000]:
        cycles = timedelta(seconds=2 * endpoints[endpoint_id].poll_running_seconds)
        if cancel_at < ctx.now - cycles and last_polled > cancel_at:
            by_endpoint.setdefault(endpoint_id, {"timeout": [], "cancel": []})["cancel"].append(pk)
    return [_runaway_finding(endpoints[e], jobs) for e, jobs in by_endpoint.items()]


def _execution_timeout(policy) -> timedelta:
    # One reading of a job's timeout for the alert and the cost so far of the job's page (jobs/costs.py).
    return execution_timeout(policy)


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
        counts = {pk: row["empty"] for pk, row in ctx.finished_counts(window).items()}
        over = [e for e in endpoints if counts.get(e.pk, 0) > ctx.book.params(RuleKind.NO_OUTPUT, e.pk).threshold]
        if not over:
            continue
        # The newest 50 of every endpoint over the limit, in one query.
        empty = Job.objects.filter(
            endpoint_id__in=[e.pk for e in over],
            finished_at__gte=ctx.now - timedelta(seconds=window),
            completed_without_output=True,
        )
        rank = Window(RowNumber(), partition_by=[F("endpoint_id")], order_by=F("finished_at").desc())
        samples: dict[int, list] = {}
        for endpoint_id, pk in (
            empty.annotate(rank=rank)
            .filter(rank__lte=50)
            .order_by("endpoint_id", "rank")
            .values_list("endpoint_id", "pk")
        ):
            samples.setdefault(endpoint_id, []).append(pk)
        for endpoint in over:
            count, ids = counts[endpoint.pk], samples.get(endpoint.pk, [])
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
    ).order_by()
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
