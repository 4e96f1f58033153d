"""A structural diff of two JSON values, for the compare page: which keys were added, removed or changed, with
their paths (`images[2].url`), arrays compared index by index.

Pure functions over decoded JSON; nothing here touches the database or renders HTML. The walk is iterative (no
recursion limit on deep outputs) and bounded twice: it reports at most `max_changes` changes and visits at most
`max_nodes` values, and says when it stopped early, so a megabyte output cannot stall a page.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"

MAX_CHANGES = 300
MAX_NODES = 100_000
PREVIEW_CHARS = 400
# Keys that read well after a dot; any other key is written as ["..."] (JSON-quoted).
PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class _Missing:
    """Marks the side of an added or removed key that has no value (None is a value: JSON null)."""

    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class Change:
    path: str  # "" for the whole value
    kind: str  # ADDED (only in b), REMOVED (only in a) or CHANGED
    a: Any = MISSING
    b: Any = MISSING

    @property
    def a_preview(self) -> str:
        return preview(self.a)

    @property
    def b_preview(self) -> str:
        return preview(self.b)


@dataclass
class JsonDiff:
    changes: list[Change] = field(default_factory=list)
    # The walk stopped at max_changes or max_nodes: there may be differences not listed.
    truncated: bool = False

    @property
    def same(self) -> bool:
        return not self.changes and not self.truncated

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)

    @property
    def counts(self) -> dict[str, int]:
        return {kind: self.count(kind) for kind in (CHANGED, ADDED, REMOVED)}


def key_path(parent: str, key: str) -> str:
    if PLAIN_KEY.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def _kind(value) -> str:
    """JSON's types: true is not 1 (Python says it is), 1 and 1.0 are the same number."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string" if isinstance(value, str) else "null" if value is None else type(value).__name__


def json_diff(a, b, *, max_changes=MAX_CHANGES, max_nodes=MAX_NODES) -> JsonDiff:
    """What changed from a to b.

    1. Objects: keys only in a are removed, only in b added, in both compared (keys in sorted order).
    2. Arrays: compared index by index; the longer one's extra items are added or removed.
    3. Anything else, or two values of different JSON types, is changed when not equal.
    """
    diff = JsonDiff()
    # Reversed pushes keep the output in document order with a last-in, first-out stack.
    stack = [("", a, b)]
    visited = 0
    while stack:
        visited += 1
        if len(diff.changes) >= max_changes or visited > max_nodes:
            diff.truncated = True
            break
        path, x, y = stack.pop()
        if x is MISSING or y is MISSING:
            diff.changes.append(Change(path, ADDED if x is MISSING else REMOVED, x, y))
            continue
        kind_x, kind_y = _kind(x), _kind(y)
        if kind_x != kind_y:
            diff.changes.append(Change(path, CHANGED, x, y))
        elif kind_x in ("object", "array"):
            children = _object_children if kind_x == "object" else _array_children
            # Never queue more than the node budget has left: a million-item array is cut here, not copied.
            pairs, complete = children(path, x, y, limit=max_nodes - visited - len(stack))
            diff.truncated |= not complete
            stack.extend(reversed(pairs))
        elif x != y:
            diff.changes.append(Change(path, CHANGED, x, y))
    return diff


def _object_children(path, x, y, *, limit) -> tuple[list, bool]:
    """Each key of either side with its two values, MISSING on the side that lacks it, in key order."""
    keys = sorted(set(x) | set(y), key=str)
    pairs = [(key_path(path, str(key)), x.get(key, MISSING), y.get(key, MISSING)) for key in keys[: max(limit, 0)]]
    return pairs, len(keys) <= limit


def _array_children(path, x, y, *, limit) -> tuple[list, bool]:
    """Item by item; the longer array's extra items face MISSING."""

    def item(values, index):
        return values[index] if index < len(values) else MISSING

    length = max(len(x), len(y))
    pairs = [(index_path(path, i), item(x, i), item(y, i)) for i in range(min(length, max(limit, 0)))]
    return pairs, length <= limit


def preview(value, limit=PREVIEW_CHARS) -> str:
    """One line of compact JSON (not escaped: templates escape it), cut short past limit; "" for a missing side."""
    if value is MISSING:
        return ""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > limit:
        return text[:limit] + f"… ({len(text):,} characters)"
    return text
