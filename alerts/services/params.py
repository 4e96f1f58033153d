"""Rule thresholds: an endpoint's own row, else the row for every endpoint, else the defaults below."""

from dataclasses import dataclass, replace

from alerts.models import RuleKind, RuleSetting


@dataclass(frozen=True)
class RuleParams:
    enabled: bool = True
    threshold: float = 0.0
    window_seconds: int = 0
    min_count: int = 0


DEFAULTS = {
    RuleKind.STUCK_QUEUE: RuleParams(threshold=120),  # seconds the oldest job has waited
    RuleKind.FAILURE_RATE: RuleParams(threshold=20, window_seconds=600, min_count=5),  # percent of finished jobs
    RuleKind.RUNAWAY: RuleParams(threshold=60),  # grace seconds past executionTimeout
    RuleKind.NO_OUTPUT: RuleParams(threshold=2, window_seconds=600),  # more than this many in the window
    RuleKind.RESULTS_AT_RISK: RuleParams(threshold=50, window_seconds=3600),  # percent of retention; losses shown 1 h
    RuleKind.POLLING_STALLED: RuleParams(threshold=60),  # seconds without a finished poll round
}


class RuleBook:
    """Every setting row, read once per tick."""

    def __init__(self, rows=None):
        rows = list(RuleSetting.objects.all()) if rows is None else rows
        self._rows = {(row.endpoint_id, row.kind): row for row in rows}

    def params(self, kind, endpoint_id=None) -> RuleParams:
        params = DEFAULTS[kind]
        for scope in (None, endpoint_id) if endpoint_id is not None else (None,):
            row = self._rows.get((scope, kind))
            if row is not None:
                params = _merge(params, row)
        return params


def _merge(params: RuleParams, row) -> RuleParams:
    changes = {"enabled": row.enabled}
    for name in ("threshold", "window_seconds", "min_count"):
        value = getattr(row, name)
        if value is not None:
            changes[name] = value
    return replace(params, **changes)
