"""Setting an endpoint's price per second: parsed and checked once for the pages, the admin and the API, and audited
(the arithmetic is in jobs/costs.py)."""

from decimal import Decimal, InvalidOperation

from jobs.costs import PRICE_MAX, PRICE_PLACES, price_text
from jobs.models import Endpoint

from .audit import audit_record
from .errors import InputError


def price_parse(value) -> Decimal | None:
    """A price typed by a person or sent by a program: empty means no price; otherwise 0 up to PRICE_MAX, at most
    eight decimal places (raises InputError(field="price_per_second"))."""
    text = "" if value is None else str(value).strip().lstrip("$").strip()
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise InputError("Type a price in US dollars per second, such as 0.00031.", field="price_per_second") from None
    if not price.is_finite() or price < 0 or price > PRICE_MAX:
        raise InputError(f"A price is from 0 to {PRICE_MAX} dollars per second.", field="price_per_second")
    if price != price.quantize(PRICE_PLACES):
        raise InputError("A price has at most 8 decimal places.", field="price_per_second")
    # "-0" is a price of zero, not a negative one to show as "$-0/s".
    return abs(price).quantize(PRICE_PLACES) if price == 0 else price.quantize(PRICE_PLACES)


def endpoint_price_set(*, endpoint: Endpoint, price, user, remote_addr=None) -> bool:
    """Set (or clear, with None) an endpoint's price per second; audited with the old and new price, like the
    admin's endpoint changes. Returns False when the price was already that (nothing written or audited)."""
    old = Endpoint.objects.filter(pk=endpoint.pk).values_list("price_per_second", flat=True).first()
    if old == price:
        return False
    Endpoint.objects.filter(pk=endpoint.pk).update(price_per_second=price)
    endpoint.price_per_second = price
    audit_record(
        action="endpoint_change",
        user=user,
        endpoint=endpoint,
        message=f"Changed price_per_second of {endpoint.name}",
        detail={"changes": {"price_per_second": {"from": price_text(old), "to": price_text(price)}}},
        remote_addr=remote_addr,
    )
    return True
