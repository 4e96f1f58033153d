"""What services raise, and how a RunPod error is told to a person: importable by every service (it imports none)."""

from jobs import runpod


class ActionError(Exception):
    """An action that could not be done; str() is the message for the person who asked."""

    def __init__(self, message, *, audit=None, field=None):
        super().__init__(message)
        self.audit = audit
        # The input the message is about ("webhook", "input", "policy.ttl", ...), so a form shows it beside that
        # field and never has to recognise a message by its wording; None when it is about the request as a whole.
        self.field = field


class InputError(ActionError):
    """The request itself is wrong: nothing was stored or sent."""


def describe_error(exc) -> str:
    """A sentence for a person; never includes the key."""
    if isinstance(exc, runpod.AuthError):
        return "RunPod refused the endpoint's API key (401): an admin must update it."
    if isinstance(exc, runpod.NotFoundError):
        return "RunPod does not know this job or endpoint any more (404)."
    if isinstance(exc, runpod.RateLimitedError):
        wait = f" Try again in {exc.retry_after:.0f} s." if exc.retry_after else " Try again shortly."
        return "RunPod is rate limiting this endpoint (429)." + wait
    if isinstance(exc, runpod.BadResponseError):
        return "RunPod's answer could not be read; it may have done what was asked: check the endpoint."
    if isinstance(exc, runpod.TransientError):
        return f"RunPod did not answer properly ({exc.status_code or 'no response'}); try again."
    return f"RunPod refused the request ({exc.status_code or 'error'})."
