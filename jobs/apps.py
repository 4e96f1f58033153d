from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .roles import roles_ensure

        # Runs after auth's own post_migrate handler has created the permissions (jobs comes later in INSTALLED_APPS).
        post_migrate.connect(roles_ensure, sender=self, dispatch_uid="jobs.roles_ensure")
