"""The dashboard's views: function views that read through selectors (GET) or act through services (POST)."""

from .actions import job_cancel, job_retry, job_run_again, job_submit, job_track
from .audit import audit_list
from .auth import LoginView, admin_login
from .bulk import bulk_detail, bulk_new, bulk_stop
from .compare import job_compare
from .costs import cost_page, endpoint_price, job_cost_total_hx
from .endpoints import endpoint_detail, endpoint_purge, endpoint_stats_hx
from .jobs import job_detail, job_json, job_list, job_live_hx, job_rows_hx, job_stream_hx
from .overview import endpoint_pin, overview, overview_hx
from .saved_views import (
    saved_view_create,
    saved_view_delete,
    saved_view_list,
    saved_view_rename,
    saved_views_menu_hx,
)

__all__ = [
    "LoginView",
    "admin_login",
    "audit_list",
    "bulk_detail",
    "bulk_new",
    "bulk_stop",
    "cost_page",
    "endpoint_detail",
    "endpoint_pin",
    "endpoint_price",
    "endpoint_purge",
    "endpoint_stats_hx",
    "job_cancel",
    "job_compare",
    "job_cost_total_hx",
    "job_detail",
    "job_json",
    "job_list",
    "job_live_hx",
    "job_retry",
    "job_rows_hx",
    "job_run_again",
    "job_stream_hx",
    "job_submit",
    "job_track",
    "overview",
    "overview_hx",
    "saved_view_create",
    "saved_view_delete",
    "saved_view_list",
    "saved_view_rename",
    "saved_views_menu_hx",
]
