"""The three roles: Viewers see everything, Operators also act on jobs and queues, Admins also manage endpoints."""

from django.db import migrations

ROLES = {
    "Viewers": [],
    "Operators": [("jobs", "job", "operate_job")],
    "Admins": [
        ("jobs", "job", "operate_job"),
        ("jobs", "endpoint", "add_endpoint"),
        ("jobs", "endpoint", "change_endpoint"),
        ("jobs", "endpoint", "delete_endpoint"),
        ("jobs", "endpoint", "view_endpoint"),
        ("jobs", "auditentry", "view_auditentry"),
    ],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, model, codename in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, content_type__model=model, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
