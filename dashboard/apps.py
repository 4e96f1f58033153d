from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from .security import audit_login, audit_login_failed

        user_logged_in.connect(audit_login, dispatch_uid="dashboard-audit-login")
        user_login_failed.connect(audit_login_failed, dispatch_uid="dashboard-audit-login-failed")
