"""/metrics: OpenMetrics for Prometheus, read from the database at scrape time, so every web process answers the
same whatever it has served (no per-process counters).

Gauges come from the newest health snapshot and the endpoint rows; counters and histograms from MetricTally, the
running totals of settled status transitions (see `tallies_read`).
"""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from jobs import selectors
from jobs.constants import IN_PROGRESS
from jobs.costs import cost_of_ms
from jobs.models import FINAL_STATES, Endpoint, Job, StatusTransition

from .models import MetricMark, MetricTally

# Job times in milliseconds; the bucket bounds are exported in seconds.
BUCKETS_MS = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000)
COUNTED_STATES = (*sorted(FINAL_STATES), "EXPIRED")
# Transitions younger than this are summed at every scrape but not yet stored: a transaction that commits late
# (ids are handed out before commit) still lands in the totals as long as it commits within this time.
SETTLE = timedelta(seconds=60)
WORKER_STATES = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")
TIME_COLUMNS = {"delay": "job__delay_ms", "execution": "job__execution_ms"}


def _aggregate(transitions) -> dict[int, dict]:
    """Per endpoint: final transitions by status, and delay/execution histograms of those jobs (one query)."""
    aggregates = {}
    for status in COUNTED_STATES:
        aggregates[f"n_{status}"] = Count("id", filter=Q(to_status=status))
    finals = Q(to_status__in=FINAL_STATES)
    for name, column in TIME_COLUMNS.items():
        for i, bound in enumerate(BUCKETS_MS):
            aggregates[f"{name}_{i}"] = Count("id", filter=finals & Q(**{f"{column}__lte": bound}))
        aggregates[f"{name}_count"] = Count("id", filter=finals & Q(**{f"{column}__isnull": False}))
        aggregates[f"{name}_sum"] = Sum(column, filter=finals, default=0)
    rows = (
        transitions.filter(to_status__in=COUNTED_STATES)
        .values("job__endpoint_id")
        .annotate(**aggregates, last_id=Max("id"))
        .order_by()
    )
    return {row.pop("job__endpoint_id"): row for row in rows}


def _add(total: dict, part: dict) -> dict:
    merged = dict(total)
    for key, value in part.items():
        if key != "last_id":
            merged[key] = merged.get(key, 0) + (value or 0)
    return merged


def tallies_advance(now=None) -> int:
    """Sum the transitions settled since the last scrape into MetricTally; returns the new mark.

    Under a row lock on the mark, so two scrapes at once do not both add the same transitions.
    """
    cutoff = (now or timezone.now()) - SETTLE
    with transaction.atomic():
        mark, _ = MetricMark.objects.select_for_update().get_or_create(name="transitions")
        fresh = StatusTransition.objects.filter(id__gt=mark.last_id)
        upto = fresh.filter(at__lt=cutoff).aggregate(top=Max("id"))["top"]
        if upto is None:
            return mark.last_id
        for endpoint_id, part in _aggregate(fresh.filter(id__lte=upto)).items():
            tally, _ = MetricTally.objects.select_for_update().get_or_create(endpoint_id=endpoint_id)
            tally.data = _add(tally.data, part)
            tally.save(update_fields=["data"])
        mark.last_id = upto
        mark.save(update_fields=["last_id", "updated_at"])
        return upto


def tallies_read(now=None) -> dict[int, dict]:
    """The totals per endpoint: the stored ones plus the transitions not settled yet."""
    mark = tallies_advance(now)
    totals = {t.endpoint_id: t.data for t in MetricTally.objects.all()}
    for endpoint_id, part in _aggregate(StatusTransition.objects.filter(id__gt=mark)).items():
        totals[endpoint_id] = _add(totals.get(endpoint_id, {}), part)
    return totals


def _histogram(name, documentation, totals, names, kind):
    family = HistogramMetricFamily(name, documentation, labels=["endpoint"], unit="seconds")
    for endpoint_id, data in totals.items():
        if endpoint_id not in names:
            continue
        buckets = [(str(bound / 1000), data.get(f"{kind}_{i}", 0)) for i, bound in enumerate(BUCKETS_MS)]
        buckets.append(("+Inf", data.get(f"{kind}_count", 0)))
        family.add_metric([names[endpoint_id]], buckets, sum_value=(data.get(f"{kind}_sum") or 0) / 1000)
    return family


class DashboardCollector(Collector):
    """Everything /metrics shows, read in a fixed number of queries however many jobs are stored."""

    def collect(self):
        now = timezone.now()
        summaries = selectors.overview_endpoints(now, points=1)
        names = {s.endpoint.pk: s.endpoint.name for s in summaries}
        yield from self._health(summaries)
        yield from self._polling(summaries, now)
        yield from self._last_hour(summaries)
        totals = tallies_read(now)
        finished = CounterMetricFamily(
            "runpod_jobs_finished", "Jobs that reached a final status here, by status.", labels=["endpoint", "status"]
        )
        expired = CounterMetricFamily(
            "runpod_jobs_expired", "Jobs RunPod dropped before their result was archived here.", labels=["endpoint"]
        )
        for endpoint_id, name in names.items():
            data = totals.get(endpoint_id, {})
            for status in sorted(FINAL_STATES):
                finished.add_metric([name, status], data.get(f"n_{status}", 0))
            expired.add_metric([name], data.get("n_EXPIRED", 0))
        yield finished
        yield expired
        yield _histogram("runpod_job_delay", "Time in RunPod's queue of finished jobs.", totals, names, "delay")
        yield _histogram("runpod_job_execution", "Time on a worker of finished jobs.", totals, names, "execution")
        yield from self._costs(summaries, totals, now)
        yield from self._archive(names, now)
        yield self._alerts(now)

    def _costs(self, summaries, totals, now):
        """Estimated costs of endpoints with a price: the execution histogram's sum x the price (no query), and the
        jobs running now, so far (the running set is small: one job per busy worker)."""
        price = GaugeMetricFamily(
            "runpod_price_per_second",
            "The endpoint's price per second of GPU time, as set here.",
            labels=["endpoint"],
            unit="usd",
        )
        cost = GaugeMetricFamily(
            "runpod_estimated_cost",
            "Estimated cost of the jobs that finished here: runpod_job_execution_seconds_sum x the endpoint's price "
            "now. Leaves out idle and cold-start time, which RunPod also bills.",
            labels=["endpoint"],
            unit="usd",
        )
        running = GaugeMetricFamily(
            "runpod_estimated_cost_running",
            "Estimated cost so far of the jobs still running: time since they started x the price.",
            labels=["endpoint"],
            unit="usd",
        )
        priced = {s.endpoint.pk: (s.endpoint.name, s.endpoint.price_per_second) for s in summaries}
        priced = {pk: value for pk, value in priced.items() if value[1] is not None}
        so_far: dict[int, Decimal] = {}
        for endpoint_id, started_at, ms in Job.objects.filter(
            status=IN_PROGRESS, started_at__isnull=False, endpoint_id__in=list(priced)
        ).values_list("endpoint_id", "started_at", "execution_ms"):
            elapsed = max(int((now - started_at).total_seconds() * 1000), ms or 0, 0)
            so_far[endpoint_id] = so_far.get(endpoint_id, Decimal(0)) + cost_of_ms(elapsed, priced[endpoint_id][1])
        for endpoint_id, (name, value) in priced.items():
            price.add_metric([name], float(value))
            finished_ms = totals.get(endpoint_id, {}).get("execution_sum") or 0
            cost.add_metric([name], float(cost_of_ms(finished_ms, value)))
            running.add_metric([name], float(so_far.get(endpoint_id, 0)))
        yield from (price, cost, running)

    def _alerts(self, now):
        """Alerts firing now, by endpoint ("" when about no single endpoint), kind and whether silenced."""
        from alerts.selectors import alerts_firing

        family = GaugeMetricFamily(
            "runpod_alerts_firing", "Alerts firing now (the alerts page).", labels=["endpoint", "kind", "silenced"]
        )
        counts: dict[tuple, int] = {}
        for alert in alerts_firing(now):
            key = (alert.endpoint.name if alert.endpoint else "", alert.kind, str(bool(alert.silenced)).lower())
            counts[key] = counts.get(key, 0) + 1
        for key, count in sorted(counts.items()):
            family.add_metric(list(key), count)
        return family

    def _health(self, summaries):
        queue = GaugeMetricFamily("runpod_queue_depth", "Jobs in RunPod's queue (newest /health).", labels=["endpoint"])
        running = GaugeMetricFamily(
            "runpod_jobs_in_progress", "Jobs running at RunPod (newest /health).", labels=["endpoint"]
        )
        workers = GaugeMetricFamily(
            "runpod_workers", "Workers by state (newest /health).", labels=["endpoint", "state"]
        )
        age = GaugeMetricFamily(
            "runpod_health_age", "Age of the newest /health snapshot.", labels=["endpoint"], unit="seconds"
        )
        for summary in summaries:
            name, health = summary.endpoint.name, summary.health
            if health is None:
                continue
            queue.add_metric([name], health.jobs_in_queue)
            running.add_metric([name], health.jobs_in_progress)
            for state in WORKER_STATES:
                workers.add_metric([name, state], getattr(health, f"workers_{state}"))
            age.add_metric([name], max(0.0, (timezone.now() - health.taken_at).total_seconds()))
        yield from (queue, running, workers, age)

    def _polling(self, summaries, now):
        poll_age = GaugeMetricFamily(
            "runpod_last_poll_age", "Since the last poll round of the endpoint.", labels=["endpoint"], unit="seconds"
        )
        calls = GaugeMetricFamily(
            "runpod_status_calls_recent",
            "/status calls in the last 10 s (the rate budget in use).",
            labels=["endpoint"],
        )
        limited = GaugeMetricFamily(
            "runpod_rate_limited", "1 while RunPod's 429s hold the endpoint's polling back.", labels=["endpoint"]
        )
        backoffs = GaugeMetricFamily(
            "runpod_rate_limit_backoffs",
            "Poll rounds stopped by a 429 in a row (0 once one succeeds).",
            labels=["endpoint"],
        )
        rate_limited = CounterMetricFamily(
            "runpod_rate_limited_responses",
            "429 answers RunPod gave the poller for this endpoint.",
            labels=["endpoint"],
        )
        due = GaugeMetricFamily(
            "runpod_poll_overdue", "How late the most overdue due job is.", labels=["endpoint"], unit="seconds"
        )
        second = int(now.timestamp())
        # The summaries leave this column out (it is written many times a second); one query for all of them.
        status_calls = dict(Endpoint.objects.values_list("id", "status_calls"))
        for summary in summaries:
            endpoint, name = summary.endpoint, summary.endpoint.name
            if endpoint.last_poll_at:
                poll_age.add_metric([name], max(0.0, (now - endpoint.last_poll_at).total_seconds()))
            calls.add_metric([name], _recent_calls(status_calls.get(endpoint.pk), second))
            limited.add_metric([name], int(bool(endpoint.backoff_until and endpoint.backoff_until > now)))
            backoffs.add_metric([name], endpoint.backoff_count)
            rate_limited.add_metric([name], endpoint.rate_limited_total)
            overdue = (now - summary.oldest_due).total_seconds() if summary.oldest_due else 0.0
            due.add_metric([name], max(0.0, overdue))
        yield from (poll_age, calls, limited, backoffs, rate_limited, due)

    def _last_hour(self, summaries):
        family = GaugeMetricFamily(
            "runpod_jobs_finished_last_hour",
            "Jobs finished in the last hour, as the overview counts them.",
            labels=["endpoint", "status"],
        )
        for summary in summaries:
            hour = summary.last_hour
            for status, value in (
                ("completed", hour.completed),
                ("failed", hour.failed),
                ("cancelled", hour.cancelled),
            ):
                family.add_metric([summary.endpoint.name, status], value)
        yield family

    def _archive(self, names, now):
        """Archive lag of jobs that finished in the last 10 minutes, and final jobs still waiting for theirs."""
        lag = GaugeMetricFamily(
            "runpod_archive_lag_max",
            "Longest wait from finishing at RunPod to archived here, among jobs finished in the last 10 minutes.",
            labels=["endpoint"],
            unit="seconds",
        )
        waiting = GaugeMetricFamily(
            "runpod_jobs_awaiting_archive",
            "Finished jobs whose output is not archived yet (finished in the last 10 minutes).",
            labels=["endpoint"],
        )
        rows = (
            Job.objects.filter(finished_at__gte=now - timedelta(minutes=10), endpoint_id__in=list(names))
            .values("endpoint_id")
            .annotate(
                lag=Max(ExpressionWrapper(F("archived_at") - F("finished_at"), output_field=DurationField())),
                waiting=Count("id", filter=Q(archived=False, status__in=FINAL_STATES)),
            )
            .order_by()
        )
        for row in rows:
            name = names[row["endpoint_id"]]
            lag.add_metric([name], row["lag"].total_seconds() if row["lag"] else 0.0)
            waiting.add_metric([name], row["waiting"])
        yield from (lag, waiting)


def _recent_calls(counts, second) -> int:
    """Sum of the per-second /status counts the poller records on the endpoint, over the last 10 s."""
    total = 0
    counts = counts or {}
    for key, value in counts.items():
        try:
            if second - 10 < int(key) <= second:
                total += int(value)
        except (TypeError, ValueError):
            continue
    return total
