"""Reads and writes of what a person chose for their own view (pinned endpoints); nothing here acts on RunPod."""

from .models import PinnedEndpoint


def pinned_endpoint_ids(user) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(PinnedEndpoint.objects.filter(user=user).values_list("endpoint_id", flat=True))


def endpoint_pin_set(*, user, endpoint, pinned: bool) -> None:
    """Pin or unpin; idempotent, so a double click or a resent form leaves what was asked."""
    if pinned:
        PinnedEndpoint.objects.get_or_create(user=user, endpoint=endpoint)
    else:
        PinnedEndpoint.objects.filter(user=user, endpoint=endpoint).delete()
