from pathlib import Path

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.backends.signals import connection_created

        from .security import audit_login, audit_login_failed

        user_logged_in.connect(audit_login, dispatch_uid="dashboard-audit-login")
        user_login_failed.connect(audit_login_failed, dispatch_uid="dashboard-audit-login-failed")
        connection_created.connect(sqlite_files_private, dispatch_uid="dashboard-sqlite-private")


def sqlite_files_private(sender, connection, **kwargs):
    """SQLite creates its file with the umask (0644): make it and its journals 0600 (SQLite gives new journal and
    WAL files the database's own mode). The session table in it is enough to log in as anyone."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(name + suffix)
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:  # not ours, or gone meanwhile
            pass
