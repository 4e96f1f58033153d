"""RunPod's endpoint routes under /v2/<endpoint id>/, as `RUNPOD_ENDPOINT_BASE_URL=https://<dashboard>/v2` expects."""

from django.urls import path

from proxy import views

urlpatterns = [
    path("<str:endpoint_id>/run", views.run, name="proxy_run"),
    path("<str:endpoint_id>/runsync", views.runsync, name="proxy_runsync"),
    path("<str:endpoint_id>/status/<str:job_id>", views.status, name="proxy_status"),
    path("<str:endpoint_id>/status-sync/<str:job_id>", views.status_sync, name="proxy_status_sync"),
    path("<str:endpoint_id>/stream/<str:job_id>", views.stream, name="proxy_stream"),
    path("<str:endpoint_id>/cancel/<str:job_id>", views.cancel, name="proxy_cancel"),
    path("<str:endpoint_id>/retry/<str:job_id>", views.retry, name="proxy_retry"),
    path("<str:endpoint_id>/health", views.health, name="proxy_health"),
    path("<str:endpoint_id>/purge-queue", views.purge_queue, name="proxy_purge_queue"),
]
