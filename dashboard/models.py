"""What the dashboard remembers per person: the endpoints they pinned to the top of the overview, and the jobs-list
filters saved under a name (their own, or the team's)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


class PinnedEndpoint(models.Model):
    """An endpoint a user keeps at the top of the overview, whatever the sort."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey("jobs.Endpoint", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "endpoint"], name="pinned_endpoint_once")]

    def __str__(self):
        return f"{self.user_id} pinned {self.endpoint_id}"


class SavedView(models.Model):
    """A jobs-list filter kept under a name: private to its owner, or the team's (owner empty) for everyone.

    `filters` holds only the jobs page's known filter fields, as validated by its form and written back the way
    its URL carries them (dashboard/saved_views.py), never a raw query string.
    """

    name = models.CharField(max_length=60)
    # Empty for a team view: it belongs to everyone and outlives the operator who saved it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Names are told apart without regard to case, as people read them in the menu.
            models.UniqueConstraint(
                Lower("name"), F("owner"), condition=Q(owner__isnull=False), name="saved_view_private_name_once"
            ),
            models.UniqueConstraint(Lower("name"), condition=Q(owner__isnull=True), name="saved_view_team_name_once"),
        ]

    def __str__(self):
        return f"{self.name} ({'team' if self.is_team else self.owner_id})"

    @property
    def is_team(self) -> bool:
        return self.owner_id is None
