"""What the dashboard remembers per person: the endpoints they pinned to the top of the overview."""

from django.conf import settings
from django.db import models


class PinnedEndpoint(models.Model):
    """An endpoint a user keeps at the top of the overview, whatever the sort."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey("jobs.Endpoint", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "endpoint"], name="pinned_endpoint_once")]

    def __str__(self):
        return f"{self.user_id} pinned {self.endpoint_id}"
