"""Reads shared by views and tasks: job lists, the overview's figures, chart series, the audit trail.

Every read is bounded so pages stay fast on millions of jobs and a week of 10-second snapshots: lists use keyset
pagination on an index and a LIMIT (never COUNT(*)), figures look at the last hour on the finished-at index, and
charts aggregate snapshots into a fixed number of time buckets in SQL.
"""

from .audit import AUDIT_ACTIONS, AuditFilters, audit_list, users_for_filter
from .costs import CostLine, CostSummary, cost_summary, filter_cost_total
from .endpoints import (
    EndpointSummary,
    FinishedStats,
    Percentiles,
    endpoint_enabled,
    endpoint_get,
    endpoint_options,
    endpoint_queued,
    endpoint_summary,
    endpoint_warnings,
    endpoints_enabled,
    finished_stats,
    overview_endpoints,
    percentiles_of,
)
from .jobs import (
    TEXT_SEARCH_SCAN,
    JobFilters,
    JobPage,
    job_chunk_outputs,
    job_chunks,
    job_detail,
    job_list,
    job_newer_count,
    job_rows,
    job_transitions,
)
from .overview import (
    Attention,
    OverviewSummary,
    endpoint_newest_finished,
    overview_fingerprint,
    overview_rows,
    overview_sorted,
    overview_summaries,
)
from .paging import Cursor, keyset_page
from .series import Bucket, bucket_seconds, health_series, health_series_many, throughput_series

__all__ = [
    "AUDIT_ACTIONS",
    "TEXT_SEARCH_SCAN",
    "Attention",
    "AuditFilters",
    "Bucket",
    "CostLine",
    "CostSummary",
    "Cursor",
    "EndpointSummary",
    "FinishedStats",
    "JobFilters",
    "JobPage",
    "OverviewSummary",
    "Percentiles",
    "audit_list",
    "bucket_seconds",
    "cost_summary",
    "endpoint_enabled",
    "endpoint_get",
    "endpoint_newest_finished",
    "endpoint_options",
    "endpoint_queued",
    "endpoint_summary",
    "endpoint_warnings",
    "endpoints_enabled",
    "filter_cost_total",
    "finished_stats",
    "health_series",
    "health_series_many",
    "job_chunk_outputs",
    "job_chunks",
    "job_detail",
    "job_list",
    "job_newer_count",
    "job_rows",
    "job_transitions",
    "keyset_page",
    "overview_endpoints",
    "overview_fingerprint",
    "overview_rows",
    "overview_sorted",
    "overview_summaries",
    "percentiles_of",
    "throughput_series",
    "users_for_filter",
]
