"""Estimated costs summed in the database: per endpoint, per user and per day over a window, and over a jobs-list
filter.

The database sums milliseconds (integers, exact on PostgreSQL and SQLite alike) grouped by endpoint, and each
group is priced once in Python with the endpoint's Decimal price. Multiplying inside the query would be exact on
PostgreSQL but floating point on SQLite, which has no decimal type; a price is the same for every job of an
endpoint, so price x sum of times is the same number as the sum of prices x times. Jobs still running are
few (one per busy worker) and are priced one by one, as cost so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from jobs.constants import IN_PROGRESS
from jobs.costs import cost_of_ms
from jobs.models import Endpoint, Job

from .jobs import JobFilters

ZERO = Decimal(0)
RUNNING = Q(status=IN_PROGRESS, started_at__isnull=False)
# The Cost page's and the API's windows: whole local days, today included.
COST_WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
# The Cost page's sums of finished jobs are kept this long: a window of a million jobs takes about a second to add
# up (docs/benchmarks.md), and a minute-old sum of finished jobs is fine; running jobs are always read afresh.
SUMMARY_CACHE_SECONDS = 60
# Jobs still running priced one by one at most; past this the rest are left out of "so far" (and said so).
RUNNING_LIMIT = 5000


@dataclass
class CostLine:
    """One row of a cost table: an endpoint, a user, a day or the total."""

    key: object
    label: str = ""
    # Estimated cost of the priced jobs, the running ones' cost so far included.
    amount: Decimal = ZERO
    so_far: Decimal = ZERO
    jobs: int = 0  # jobs with an execution time (or running)
    running: int = 0
    execution_ms: int = 0
    # Jobs with a time on endpoints that have no price: not in amount.
    unpriced_jobs: int = 0
    # Finished jobs RunPod reported no execution time for: no cost can be told.
    untimed_jobs: int = 0
    # An endpoint's line: its price now.
    price: Decimal | None = None

    @property
    def priced(self) -> bool:
        """Some cost is known; a line whose every job is on an unpriced endpoint shows "no price set"."""
        return self.jobs > self.unpriced_jobs

    def add(self, *, ms: int, jobs: int, price, untimed: int = 0, running: bool = False) -> None:
        cost = cost_of_ms(ms, price)
        self.execution_ms += ms
        self.jobs += jobs
        self.untimed_jobs += untimed
        if running:
            self.running += jobs
        if cost is None:
            self.unpriced_jobs += jobs
            return
        self.amount += cost
        if running:
            self.so_far += cost


@dataclass
class CostSummary:
    since: datetime
    until: datetime
    total: CostLine
    endpoints: list[CostLine]
    users: list[CostLine]
    days: list[CostLine]
    unpriced_endpoints: list[CostLine] = field(default_factory=list)
    running_left_out: int = 0
    # Cost per (day, endpoint id), for the chart's stacked bars.
    by_day_endpoint: dict = field(default_factory=dict)


def cost_window(name: str, now: datetime, tz=None) -> tuple[datetime, datetime]:
    """[since, until) covering the last N local days of the window name, today included, on day boundaries."""
    tz = tz or timezone.get_current_timezone()
    tomorrow = timezone.localtime(now, tz).date() + timedelta(days=1)
    until = datetime.combine(tomorrow, time.min, tzinfo=tz)
    since = datetime.combine(tomorrow - timedelta(days=COST_WINDOWS[name]), time.min, tzinfo=tz)
    return since, until


def _prices() -> dict[int, tuple[str, Decimal | None]]:
    return {pk: (name, price) for pk, name, price in Endpoint.objects.values_list("id", "name", "price_per_second")}


def _running_rows(qs, now):
    """(endpoint, user, created_at, elapsed ms) of the jobs still running, newest first, at most RUNNING_LIMIT."""
    rows = list(
        qs.filter(RUNNING)
        .order_by("-created_at")
        .values_list("endpoint_id", "submitted_by_id", "created_at", "started_at", "execution_ms")[: RUNNING_LIMIT + 1]
    )
    left_out = max(0, len(rows) - RUNNING_LIMIT)
    return [
        (endpoint_id, user_id, created, max(int((now - started).total_seconds() * 1000), ms or 0, 0))
        for endpoint_id, user_id, created, started, ms in rows[:RUNNING_LIMIT]
    ], left_out


def cost_summary(*, since: datetime, until: datetime, now: datetime | None = None, tz=None) -> CostSummary:
    """Costs of the jobs created in [since, until), per endpoint, user and local day (tz, default the site's).

    One grouped query over the window (cached for a minute), one for the running jobs, two for the names.
    """
    now = now or timezone.now()
    tz = tz or timezone.get_current_timezone()
    prices = _prices()
    window = Job.objects.filter(created_at__gte=since, created_at__lt=until)
    groups = _finished_groups(window, since, until, tz)
    endpoints: dict[int, CostLine] = {}
    users: dict[int | None, CostLine] = {}
    days = {day: CostLine(day) for day in _days(since, until, tz)}
    total = CostLine("total", "Total")

    by_day_endpoint: dict = {}

    def add(endpoint_id, user_id, day, **amounts):
        price = prices.get(endpoint_id, ("", None))[1]
        cost = cost_of_ms(amounts["ms"], price)
        if cost is not None:
            by_day_endpoint[day, endpoint_id] = by_day_endpoint.get((day, endpoint_id), ZERO) + cost
        for line in (
            endpoints.setdefault(endpoint_id, CostLine(endpoint_id)),
            users.setdefault(user_id, CostLine(user_id)),
            days.setdefault(day, CostLine(day)),
            total,
        ):
            line.add(price=price, **amounts)

    for row in groups:
        add(
            row["endpoint_id"],
            row["submitted_by_id"],
            row["day"],
            ms=row["ms"],
            jobs=row["timed"],
            untimed=row["untimed"],
        )
    running, left_out = _running_rows(window, now)
    for endpoint_id, user_id, created, ms in running:
        add(endpoint_id, user_id, timezone.localtime(created, tz).date(), ms=ms, jobs=1, running=True)
    _label(endpoints, users, prices)
    return CostSummary(
        since=since,
        until=until,
        total=total,
        endpoints=_by_amount(endpoints),
        users=_by_amount(users),
        days=[days[day] for day in sorted(days)],
        unpriced_endpoints=[line for line in endpoints.values() if line.unpriced_jobs],
        running_left_out=left_out,
        by_day_endpoint=by_day_endpoint,
    )


def _finished_groups(window, since, until, tz) -> list[dict]:
    """Milliseconds and job counts of the window's jobs that are not running, per endpoint, user and local day:
    one grouped query, kept SUMMARY_CACHE_SECONDS (prices are applied after, so a new price shows at once)."""
    key = f"costs:groups:v1:{since.isoformat()}:{until.isoformat()}:{tz}"
    rows = cache.get(key)
    if rows is None:
        rows = list(
            window.exclude(RUNNING)
            .values("endpoint_id", "submitted_by_id", day=TruncDate("created_at", tzinfo=tz))
            .annotate(
                ms=Sum("execution_ms", default=0),
                timed=Count("id", filter=Q(execution_ms__isnull=False)),
                untimed=Count("id", filter=Q(execution_ms__isnull=True)),
            )
            .order_by()
        )
        cache.set(key, rows, SUMMARY_CACHE_SECONDS)
    return rows


def _days(since, until, tz) -> list[date]:
    first = timezone.localtime(since, tz).date()
    last = timezone.localtime(until - timedelta(microseconds=1), tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _label(endpoints, users, prices) -> None:
    for pk, line in endpoints.items():
        line.label, line.price = prices.get(pk, (f"endpoint {pk}", None))
    names = dict(get_user_model().objects.filter(pk__in=[pk for pk in users if pk]).values_list("id", "username"))
    for pk, line in users.items():
        line.label = names.get(pk, "") if pk else ""


def _by_amount(lines: dict) -> list[CostLine]:
    """Most expensive first; unpriced lines after, by GPU time."""
    return sorted(lines.values(), key=lambda line: (-line.amount, -line.execution_ms, str(line.label)))


def filter_cost_total(filters: JobFilters, *, now: datetime | None = None) -> CostLine:
    """The estimated cost of every job a jobs-list filter matches (its text search aside): one query grouped by
    endpoint, and the running ones priced so far."""
    now = now or timezone.now()
    prices = _prices()
    matched = filters.apply(Job.objects.all())
    total = CostLine("total", "Total")
    groups = (
        matched.exclude(RUNNING)
        .values("endpoint_id")
        .annotate(
            ms=Sum("execution_ms", default=0),
            timed=Count("id", filter=Q(execution_ms__isnull=False)),
            untimed=Count("id", filter=Q(execution_ms__isnull=True)),
        )
        .order_by()
    )
    for row in groups:
        price = prices.get(row["endpoint_id"], ("", None))[1]
        total.add(ms=row["ms"], jobs=row["timed"], untimed=row["untimed"], price=price)
    running, _ = _running_rows(matched, now)
    for endpoint_id, _user, _created, ms in running:
        total.add(ms=ms, jobs=1, price=prices.get(endpoint_id, ("", None))[1], running=True)
    return total
