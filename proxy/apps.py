from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "proxy"
    verbose_name = "RunPod-compatible proxy"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from api.models import ApiToken
        from api.tokens import token_revoked
        from jobs.models import Endpoint
        from proxy.services.access import lookups_forget

        # What the proxy remembers of callers and endpoints goes stale when any of these change in this process.
        user_model = get_user_model()
        for model in (ApiToken, Endpoint, user_model, Group):
            post_save.connect(lookups_forget, sender=model, dispatch_uid=f"proxy-forget-save-{model.__name__}")
            post_delete.connect(lookups_forget, sender=model, dispatch_uid=f"proxy-forget-delete-{model.__name__}")
        token_revoked.connect(lookups_forget, sender=ApiToken, dispatch_uid="proxy-forget-revoked")
        for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(lookups_forget, sender=through, dispatch_uid=f"proxy-forget-m2m-{through.__name__}")
