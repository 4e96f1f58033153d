"""Estimated costs on the pages: dollar amounts, a job's cost with "so far" or why there is none, the price.

Every amount is a Decimal from jobs/costs.py; formatting never goes through float.
"""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import timezone
from django.utils.html import format_html

from jobs.costs import PRICE_PRESETS, execution_timeout, job_cost, job_past_timeout, price_text

register = template.Library()

CENT = Decimal("0.01")
# The price column's precision: nothing smaller is shown.
SMALLEST = Decimal("0.00000001")
NO_PRICE = "no price set"


def usd_text(amount) -> str:
    """$1,234.57 from a dollar up; four significant digits below ($0.04213, $0.000713, $0.50); "—" for unknown."""
    if amount is None:
        return "—"
    amount = Decimal(amount)
    if amount == 0:
        return "$0.00"
    if abs(amount) >= 1:
        return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"
    places = max(Decimal(1).scaleb(amount.adjusted() - 3), SMALLEST)
    rounded = amount.quantize(places, rounding=ROUND_HALF_UP)
    if rounded == 0:
        return f"<${SMALLEST:f}"
    whole, _, digits = f"{rounded:f}".partition(".")
    return f"${whole}.{digits.rstrip('0').ljust(2, '0')}"


@register.filter
def usd(amount) -> str:
    return usd_text(amount)


@register.filter
def price(value) -> str:
    """A price per second as typed ($0.00031/s), or "no price set"."""
    return NO_PRICE if value is None else f"${price_text(value)}/s"


@register.filter
def price_input(value) -> str:
    """A price as the input field shows it back: plain digits, empty when none is set."""
    return price_text(value) or ""


@register.simple_tag
def price_presets():
    return PRICE_PRESETS


def cost_cell_html(job, now) -> str:
    """A jobs-table cell's content: the amount, "so far" while running, or "—" saying why there is none.
    Plain text of our own only (amounts and fixed words), so callers may put it in HTML as is."""
    cost = job_cost(job, now=now)
    if cost.amount is None:
        why = "No price set for this endpoint" if cost.missing == "no_price" else "RunPod reported no execution time"
        return f'<span class="muted" title="{why}">—</span>'
    if cost.so_far:
        amount = usd_text(cost.amount)
        return f'<span title="Still running: time since it started x price">{amount} <small>so far</small></span>'
    return usd_text(cost.amount)


@register.simple_tag
def job_cost_fact(job, now=None):
    """The job page's cost: amount and how it was reckoned, or why there is none."""
    now = now or timezone.now()
    cost = job_cost(job, now=now)
    if cost.missing == "no_price":
        return format_html('<span class="muted">{}</span>', NO_PRICE)
    if cost.amount is None:
        return format_html('<span class="muted" title="{}">—</span>', "RunPod reported no execution time")
    if cost.so_far:
        return format_html('{} <span class="tag so-far">so far</span>', usd_text(cost.amount))
    return usd_text(cost.amount)


@register.simple_tag
def job_runaway(job, now=None):
    """The executionTimeout a running job has overrun, in milliseconds, else None."""
    now = now or timezone.now()
    return execution_timeout(job.policy).total_seconds() * 1000 if job_past_timeout(job, now=now) else None
