"""Making what RunPod sends fit our columns, so one odd answer can never stop a batch or lose a result.

JSON RunPod may send but a database refuses: NUL characters (PostgreSQL's text and jsonb reject them), lone
surrogates (not encodable as UTF-8), NaN and Infinity (not JSON at all, SQLite's JSON check and jsonb refuse
them), integers past a column's range, and strings longer than their column. Each is replaced by the nearest
thing that can be stored: U+FFFD for a bad character, the name of the number ("NaN") for a non-finite float,
nothing (None) for an integer out of range, and the first characters of an overlong string.
"""

import json
import logging
import math
import time

from django.db import InterfaceError, OperationalError, close_old_connections

logger = logging.getLogger(__name__)

REPLACEMENT = "\ufffd"
BIGINT_RANGE = (-(2**63), 2**63 - 1)
POSITIVE_INT_RANGE = (0, 2**31 - 1)
INT_RANGE = (-(2**31), 2**31 - 1)
# How long a write holding the only copy of something RunPod gives once keeps trying through a database outage.
OUTAGE_PATIENCE_SECONDS = 60.0
OUTAGE_RETRY_SECONDS = 1.0


def storable_text(text: str, max_length: int | None = None) -> str:
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Paired surrogates survive the round trip through UTF-16; lone ones become U+FFFD.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text[:max_length] if max_length is not None else text


def storable_json(value):
    """The value itself when any database stores it as it is (the usual case, checked in one pass), else a copy
    with the offending parts replaced."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, TypeError):  # NaN or Infinity, a lone surrogate (UnicodeEncodeError), a non-JSON type
        return _cleaned(value)
    return _cleaned(value) if "\\u0000" in text else value


def storable_int(value, bounds=BIGINT_RANGE):
    """The integer when the column can hold it, else None (leave the column as it was)."""
    if value is None or not bounds[0] <= value <= bounds[1]:
        return None
    return value


def _cleaned(value):
    """A copy with bad characters replaced in strings and keys, and non-finite floats named; iterative, so depth
    (up to whatever the JSON parser accepted) costs no recursion."""
    root = [value]
    stack = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = storable_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            container[key] = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        elif isinstance(item, list | tuple):
            copy = list(item)
            container[key] = copy
            stack.extend((copy, index) for index in range(len(copy)))
        elif isinstance(item, dict):
            copy = {storable_text(k) if isinstance(k, str) else k: v for k, v in item.items()}
            container[key] = copy
            stack.extend((copy, name) for name in copy)
        elif item is not None and not isinstance(item, bool | int | float):
            container[key] = storable_text(str(item))
    return root[0]


def write_through_outage(write, what: str):
    """Run `write` (a function doing one transaction), retrying while the database is unreachable.

    For what RunPod hands over only once, a /run id or drained stream chunks: dropped with a failed task, it
    would be gone for good. After OUTAGE_PATIENCE_SECONDS the error is raised as usual.
    """
    deadline = time.monotonic() + OUTAGE_PATIENCE_SECONDS
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                raise
            logger.warning("database unreachable while storing %s; trying again", what, exc_info=True)
            close_old_connections()  # a broken connection is dropped, the next try opens a new one
            time.sleep(OUTAGE_RETRY_SECONDS)
