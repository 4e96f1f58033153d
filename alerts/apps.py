from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"

    def ready(self):
        from celery.signals import task_postrun

        from .services.heartbeat import heartbeat_on_task_done

        # The poll tick lives in jobs/tasks.py; alerts only need to know it finished, so they listen for it.
        task_postrun.connect(heartbeat_on_task_done, weak=False, dispatch_uid="alerts_poll_heartbeat")
