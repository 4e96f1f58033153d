from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from alerts import views as alert_views
from dashboard import hooks, sso, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("hx/overview/", views.overview_hx, name="overview_hx"),
    path("endpoints/<int:pk>/", views.endpoint_detail, name="endpoint_detail"),
    path("endpoints/<int:pk>/hx/stats/", views.endpoint_stats_hx, name="endpoint_stats_hx"),
    path("endpoints/<int:pk>/purge/", views.endpoint_purge, name="endpoint_purge"),
    path("endpoints/<int:pk>/pin/", views.endpoint_pin, name="endpoint_pin"),
    path("endpoints/<int:pk>/price/", views.endpoint_price, name="endpoint_price"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/hx/rows/", views.job_rows_hx, name="job_rows_hx"),
    path("jobs/hx/cost/", views.job_cost_total_hx, name="job_cost_total_hx"),
    path("jobs/new/", views.job_submit, name="job_submit"),
    path("jobs/track/", views.job_track, name="job_track"),
    path("jobs/compare/", views.job_compare, name="job_compare"),
    path("jobs/views/", views.saved_view_list, name="saved_view_list"),
    path("jobs/views/new/", views.saved_view_create, name="saved_view_create"),
    path("jobs/views/hx/menu/", views.saved_views_menu_hx, name="saved_views_menu_hx"),
    path("jobs/views/<int:pk>/rename/", views.saved_view_rename, name="saved_view_rename"),
    path("jobs/views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("jobs/bulk/", views.bulk_new, name="bulk_new"),
    path("jobs/bulk/<int:pk>/", views.bulk_detail, name="bulk_detail"),
    path("jobs/bulk/<int:pk>/stop/", views.bulk_stop, name="bulk_stop"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/hx/live/", views.job_live_hx, name="job_live_hx"),
    path("jobs/<int:pk>/hx/stream/", views.job_stream_hx, name="job_stream_hx"),
    path("jobs/<int:pk>/<str:part>.json", views.job_json, name="job_json"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<int:pk>/run-again/", views.job_run_again, name="job_run_again"),
    path("costs/", views.cost_page, name="costs"),
    path("audit/", views.audit_list, name="audit_list"),
    path("alerts/", include("alerts.urls")),
    path("healthz", alert_views.healthz, name="healthz"),
    path("hooks/runpod/<int:endpoint_pk>/<str:token>/", hooks.runpod_webhook, name="runpod_webhook"),
    path("", include("api.urls")),
    # Before the admin's own: its login obeys PASSWORD_LOGIN too.
    path("admin/login/", views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    # RunPod's endpoint API, so RunPod's own clients can use the dashboard as their base URL (docs/proxy.md).
    path("v2/", include("proxy.urls")),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", sso.sso_start, name="sso_start"),
    path("oidc/callback/", sso.sso_callback, name="sso_callback"),
]

handler500 = "dashboard.errors.server_error"
