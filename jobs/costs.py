"""What jobs cost, estimated: RunPod's executionTime times the endpoint's price per second, in exact Decimals.

An estimate, not RunPod's bill: RunPod also bills a worker's idle time (kept warm after a job) and cold starts,
which no job reports. A job still running has no executionTime yet; its cost so far is the time since it started.
Prices are set by admins, per endpoint (`services.endpoint_price_set`); no price means no cost, never zero.
Pure arithmetic with no database access, so selectors, services, templates and the API share one definition.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from .constants import DEFAULT_EXECUTION_TIMEOUT_MS, IN_PROGRESS

MS_PER_SECOND = Decimal(1000)
# What a cost estimate leaves out, said wherever costs are given (pages, API, metrics, exports).
ESTIMATE_NOTE = (
    "Estimate: RunPod's executionTime x the endpoint's price per second. It leaves out what RunPod also bills: "
    "idle time of workers kept warm and cold starts."
)
# The Endpoint.price_per_second column holds at most this (12 digits, 8 after the point).
PRICE_MAX = Decimal("9999.99999999")
PRICE_PLACES = Decimal("0.00000001")

# RunPod Serverless flex-worker prices per second by GPU class, as RunPod listed them when this was written.
# Presets to pick from and type over, nothing fetched: check them against your RunPod bill (active workers and
# later price changes differ).
PRICE_PRESETS = (
    ("16 GB (A4000, A4500, RTX 4000)", Decimal("0.00016")),
    ("24 GB (L4, A5000, RTX 3090)", Decimal("0.00019")),
    ("24 GB PRO (RTX 4090)", Decimal("0.00031")),
    ("48 GB (A6000, A40)", Decimal("0.00034")),
    ("48 GB PRO (L40, L40S, RTX 6000 Ada)", Decimal("0.00053")),
    ("80 GB (A100)", Decimal("0.00076")),
    ("80 GB PRO (H100)", Decimal("0.00116")),
    ("141 GB (H200)", Decimal("0.00155")),
)


@dataclass(frozen=True)
class JobCost:
    """A job's estimated cost. amount is None when it cannot be told (no price, or no execution time yet)."""

    amount: Decimal | None
    # Still running: time since it started, growing until RunPod reports its executionTime.
    so_far: bool = False
    # Why there is no amount: "no_price" or "no_time".
    missing: str = ""


def cost_of_ms(execution_ms, price) -> Decimal | None:
    """Milliseconds of GPU time at a price per second, exactly (Decimal all the way, no float)."""
    if price is None or execution_ms is None:
        return None
    return Decimal(int(execution_ms)) * Decimal(price) / MS_PER_SECOND


def job_is_running(job) -> bool:
    return job.status == IN_PROGRESS and job.started_at is not None


def execution_timeout(policy) -> timedelta:
    """The executionTimeout a job runs under: its policy's, else RunPod's default."""
    value = (policy or {}).get("executionTimeout") if isinstance(policy, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(milliseconds=value)
    return timedelta(milliseconds=DEFAULT_EXECUTION_TIMEOUT_MS)


def job_past_timeout(job, *, now: datetime) -> bool:
    """Still running longer than its executionTimeout: a runaway, billed until it stops."""
    return job_is_running(job) and now - job.started_at > execution_timeout(job.policy)


def job_cost(job, *, now: datetime, price=...) -> JobCost:
    """1. No price on its endpoint: unknown. 2. Running: time since it started, so far (RunPod bills it while it
    runs, past its timeout or a cancel too). 3. Otherwise RunPod's executionTime, or unknown without one."""
    price = job.endpoint.price_per_second if price is ... else price
    if price is None:
        return JobCost(None, missing="no_price")
    if job_is_running(job):
        elapsed_ms = max(0, int((now - job.started_at).total_seconds() * 1000))
        return JobCost(cost_of_ms(max(elapsed_ms, job.execution_ms or 0), price), so_far=True)
    if job.execution_ms is None:
        return JobCost(None, missing="no_time")
    return JobCost(cost_of_ms(job.execution_ms, price))


def price_text(price) -> str | None:
    """A price or an amount as the audit trail, the API and the exports write it: every digit, no trailing zeros,
    never in exponent form (JSON numbers would go through float)."""
    if price is None:
        return None
    text = f"{Decimal(price):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
