"""Keyset pagination: pages of a list ordered newest first, without OFFSET or COUNT(*)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """A position in a list ordered newest first: (time, id) of a row, as `<microseconds>.<id>` in URLs."""

    at: datetime
    id: int

    def encode(self) -> str:
        delta = self.at - EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None for anything malformed: a bad bookmark shows the first page rather than an error."""
        try:
            micros, _, pk = (text or "").partition(".")
            cursor = cls(EPOCH + timedelta(microseconds=int(micros)), int(pk))
        except (ValueError, OverflowError):
            return None
        # An id no 64-bit column can hold would overflow the database driver.
        return cursor if 0 <= cursor.id < 2**63 else None


def keyset_page(qs, *, time_field, after=None, before=None, limit=50):
    """One page of `qs` newest first, plus cursors to the older and newer pages (None at either end)."""
    if before is not None:
        newer = Q(**{f"{time_field}__gte": before.at}) & (Q(**{f"{time_field}__gt": before.at}) | Q(id__gt=before.id))
        rows = list(qs.filter(newer).order_by(time_field, "id")[: limit + 1])
        has_newer = len(rows) > limit
        rows = rows[:limit][::-1]
        has_older = True
    else:
        if after is not None:
            qs = qs.filter(older_than(after, time_field))
        rows = list(qs.order_by(f"-{time_field}", "-id")[: limit + 1])
        has_older = len(rows) > limit
        rows = rows[:limit]
        has_newer = after is not None
    older_cursor = row_cursor(rows[-1], time_field) if rows and has_older else None
    newer_cursor = row_cursor(rows[0], time_field) if rows and has_newer else None
    return rows, older_cursor, newer_cursor


def older_than(cursor: Cursor, time_field="created_at") -> Q:
    """Rows after the cursor in newest-first order. The plain range on the time column lets the database start
    its index scan at the cursor; the OR alone would make it read from the top."""
    return Q(**{f"{time_field}__lte": cursor.at}) & (Q(**{f"{time_field}__lt": cursor.at}) | Q(id__lt=cursor.id))


def row_cursor(row, time_field) -> str:
    return Cursor(getattr(row, time_field), row.id).encode()
