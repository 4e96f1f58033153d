"""Cost estimates: the arithmetic (exact Decimals), the price a person types, the audited price change, and the
sums per endpoint, user and day done in the database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from jobs import selectors, services
from jobs.costs import PRICE_PRESETS, cost_of_ms, job_cost, price_text
from jobs.models import AuditEntry
from tests.factories import make_endpoint, make_job, make_user

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_cost_of_ms_is_exact_where_floats_drift():
    """A thousand 0.1 s jobs at 0.00031 $/s cost exactly 0.031 $ (floats give 0.031000000000000003)."""
    assert sum(0.1 * 0.00031 for _ in range(1000)) != 0.031
    total = sum((cost_of_ms(100, Decimal("0.00031")) for _ in range(1000)), Decimal(0))
    assert total == Decimal("0.031")


def test_no_price_or_no_time_is_no_cost_not_zero():
    """Without a price, or without an execution time, the cost is unknown (None), never 0."""
    assert cost_of_ms(1000, None) is None
    assert cost_of_ms(None, Decimal("0.001")) is None
    assert cost_of_ms(0, Decimal("0.001")) == Decimal(0)


def test_job_cost_reads_execution_time_times_price(db):
    """A finished job costs executionTime x price; without a price it says why there is none."""
    priced = make_endpoint(price_per_second=Decimal("0.00076"))
    job = make_job(priced, status="COMPLETED", execution_ms=12_345)
    assert job_cost(job, now=NOW).amount == Decimal("9.3822") / 1000
    assert not job_cost(job, now=NOW).so_far
    unpriced = make_job(make_endpoint(), status="COMPLETED", execution_ms=12_345)
    assert job_cost(unpriced, now=NOW).amount is None
    assert job_cost(unpriced, now=NOW).missing == "no_price"
    untimed = make_job(priced, status="FAILED", execution_ms=None)
    assert job_cost(untimed, now=NOW).missing == "no_time"


def test_a_running_job_costs_its_time_so_far(db):
    """Still IN_PROGRESS (past its timeout, or after a cancel RunPod ignored): elapsed since started x price."""
    endpoint = make_endpoint(price_per_second=Decimal("0.001"))
    job = make_job(endpoint, status="IN_PROGRESS", started_at=NOW - timedelta(minutes=20))
    cost = job_cost(job, now=NOW)
    assert cost.so_far
    assert cost.amount == Decimal("1.2")


def test_price_parse_accepts_dollars_and_refuses_nonsense():
    """Typed prices: $ and spaces allowed, empty clears; negative, too precise, NaN or text refused on the field."""
    assert services.price_parse(" $0.00031 ") == Decimal("0.00031")
    assert services.price_parse("") is None
    assert services.price_parse(None) is None
    assert str(services.price_parse("-0")) == "0E-8" and price_text(services.price_parse("-0.0")) == "0"
    for bad in ("-1", "0.000000001", "abc", "NaN", "sNaN", "-Infinity", "1e9", "1" * 5000):
        with pytest.raises(services.InputError) as caught:
            services.price_parse(bad)
        assert caught.value.field == "price_per_second"


def test_presets_fit_the_column_and_read_back_plainly():
    """Every preset is a valid price, written without exponent or trailing zeros."""
    for _, price in PRICE_PRESETS:
        assert services.price_parse(str(price)) == price
    assert price_text(Decimal("0.00016000")) == "0.00016"
    assert price_text(Decimal("1E-8")) == "0.00000001"
    assert price_text(None) is None


def test_price_change_is_audited_with_old_and_new(db):
    """Setting a price writes it and one audit entry; setting the same price again writes nothing."""
    admin = make_user("Admins")
    endpoint = make_endpoint()
    assert services.endpoint_price_set(endpoint=endpoint, price=Decimal("0.00019"), user=admin)
    assert not services.endpoint_price_set(endpoint=endpoint, price=Decimal("0.00019"), user=admin)
    services.endpoint_price_set(endpoint=endpoint, price=None, user=admin)
    entries = list(AuditEntry.objects.filter(action="endpoint_change", endpoint=endpoint).order_by("id"))
    assert [e.detail["changes"]["price_per_second"] for e in entries] == [
        {"from": None, "to": "0.00019"},
        {"from": "0.00019", "to": None},
    ]
    assert entries[0].username == admin.username
    endpoint.refresh_from_db()
    assert endpoint.price_per_second is None


@pytest.fixture
def priced_world(db):
    """Two priced endpoints and one without a price, jobs by two users over two days, one still running."""
    a = make_endpoint(name="a-gpu", price_per_second=Decimal("0.0001"))
    b = make_endpoint(name="b-gpu", price_per_second=Decimal("0.001"))
    free = make_endpoint(name="no-price")
    alice, bob = make_user(username="alice"), make_user(username="bob")
    day1, day2 = NOW - timedelta(days=1), NOW - timedelta(hours=1)
    make_job(a, status="COMPLETED", execution_ms=10_000, created_at=day1, submitted_by=alice)
    make_job(a, status="COMPLETED", execution_ms=30_000, created_at=day2, submitted_by=bob)
    make_job(b, status="FAILED", execution_ms=2_000, created_at=day2, submitted_by=alice)
    make_job(b, status="CANCELLED", execution_ms=None, created_at=day2, submitted_by=alice)
    make_job(b, status="IN_PROGRESS", started_at=NOW - timedelta(seconds=100), created_at=day2, submitted_by=bob)
    make_job(free, status="COMPLETED", execution_ms=50_000, created_at=day2, submitted_by=bob)
    make_job(a, status="COMPLETED", execution_ms=99_000, created_at=NOW - timedelta(days=30))  # outside the window
    return {"a": a, "b": b, "free": free, "alice": alice, "bob": bob}


def test_summary_per_endpoint_user_and_day(priced_world):
    """Sums in the window per endpoint, user and day; the running job counts so far; no price stays apart."""
    summary = selectors.cost_summary(since=NOW - timedelta(days=2), until=NOW + timedelta(hours=1), now=NOW)
    # a: 40 s x 0.0001 = 0.004; b: 2 s x 0.001 + 100 s so far x 0.001 = 0.102.
    assert summary.total.amount == Decimal("0.106")
    assert summary.total.so_far == Decimal("0.1")
    by_endpoint = {line.label: line for line in summary.endpoints}
    assert by_endpoint["a-gpu"].amount == Decimal("0.004")
    assert by_endpoint["b-gpu"].amount == Decimal("0.102")
    assert by_endpoint["b-gpu"].untimed_jobs == 1
    assert by_endpoint["b-gpu"].running == 1
    assert not by_endpoint["no-price"].priced
    assert by_endpoint["no-price"].execution_ms == 50_000
    assert [line.label for line in summary.endpoints][:2] == ["b-gpu", "a-gpu"]
    by_user = {line.label: line.amount for line in summary.users}
    assert by_user == {"alice": Decimal("0.003"), "bob": Decimal("0.103")}
    days = {line.key: line.amount for line in summary.days}
    assert days == {
        NOW.date() - timedelta(days=2): 0,
        NOW.date() - timedelta(days=1): Decimal("0.001"),
        NOW.date(): Decimal("0.105"),
    }
    assert [line.label for line in summary.unpriced_endpoints] == ["no-price"]


def test_days_follow_the_given_time_zone(priced_world):
    """A job at 23:00 UTC falls on the next day in Tokyo."""
    late = make_job(
        priced_world["a"], status="COMPLETED", execution_ms=1000, created_at=datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    )
    summary = selectors.cost_summary(
        since=late.created_at - timedelta(hours=1),
        until=late.created_at + timedelta(hours=1),
        now=NOW,
        tz=ZoneInfo("Asia/Tokyo"),
    )
    assert {line.key.isoformat(): line.amount for line in summary.days if line.amount} == {
        "2026-12-01": Decimal("0.0001")
    }


def test_filter_total_follows_the_jobs_list_filters(priced_world):
    """The jobs list's total: every job the filter matches, by endpoint or user, the running one so far."""
    everything = selectors.filter_cost_total(selectors.JobFilters(), now=NOW)
    assert everything.amount == Decimal("0.004") + Decimal("0.0099") + Decimal("0.102")
    only_b = selectors.filter_cost_total(selectors.JobFilters(endpoint_id=priced_world["b"].pk), now=NOW)
    assert only_b.amount == Decimal("0.102")
    assert only_b.so_far == Decimal("0.1")
    unpriced = selectors.filter_cost_total(selectors.JobFilters(endpoint_id=priced_world["free"].pk), now=NOW)
    assert not unpriced.priced
    assert unpriced.unpriced_jobs == 1


def test_summary_takes_a_fixed_number_of_queries(priced_world, django_assert_max_num_queries):
    """However many jobs, endpoints or users: names, one grouped sum, the running jobs, the usernames."""
    with django_assert_max_num_queries(4):
        selectors.cost_summary(since=NOW - timedelta(days=7), until=NOW, now=NOW)


def test_past_timeout_follows_the_jobs_policy(db):
    """A job's own executionTimeout counts; without one, RunPod's default of 600 s."""
    from jobs.costs import job_past_timeout

    endpoint = make_endpoint()
    started = NOW - timedelta(seconds=120)
    assert job_past_timeout(
        make_job(endpoint, status="IN_PROGRESS", started_at=started, policy={"executionTimeout": 60_000}), now=NOW
    )
    assert not job_past_timeout(make_job(endpoint, status="IN_PROGRESS", started_at=started), now=NOW)
    assert not job_past_timeout(make_job(endpoint, status="COMPLETED", started_at=NOW - timedelta(hours=1)), now=NOW)
