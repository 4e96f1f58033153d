"""The three roles, as Django groups: Viewers see everything, Operators also act on jobs and queues, Admins also
manage endpoints and keys. Created after every migrate (and test flush), like Django's own permissions."""

ROLES = {
    "Viewers": [],
    "Operators": [("jobs", "operate_job")],
    "Admins": [
        ("jobs", "operate_job"),
        ("jobs", "add_endpoint"),
        ("jobs", "change_endpoint"),
        ("jobs", "delete_endpoint"),
        ("jobs", "view_endpoint"),
        ("jobs", "view_job"),
        ("jobs", "view_auditentry"),
        # Alert channels and per-endpoint thresholds (alerts app).
        ("alerts", "add_channel"),
        ("alerts", "change_channel"),
        ("alerts", "delete_channel"),
        ("alerts", "view_channel"),
        ("alerts", "add_rulesetting"),
        ("alerts", "change_rulesetting"),
        ("alerts", "delete_rulesetting"),
        ("alerts", "view_rulesetting"),
        ("alerts", "view_alert"),
        ("alerts", "view_delivery"),
    ],
}


def roles_ensure(**kwargs):
    """post_migrate receiver: make sure each role group exists with its permissions."""
    from django.contrib.auth.models import Group, Permission

    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [Permission.objects.filter(content_type__app_label=app, codename=code).first() for app, code in perms]
        group.permissions.add(*[p for p in wanted if p is not None])
