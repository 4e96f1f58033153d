"""The audit trail's one writer: who did what to which job or endpoint, and how it went.

Every service records its actions here; it imports no other service, so any of them can use it.
"""

from jobs.models import AuditEntry


def audit_record(
    *, action, user=None, endpoint=None, job=None, outcome="ok", message="", detail=None, remote_addr=None
) -> AuditEntry:
    return AuditEntry.objects.create(
        action=action,
        user=user if user is not None and user.is_authenticated else None,
        username=user.get_username() if user is not None and user.is_authenticated else "",
        endpoint=endpoint or (job.endpoint if job else None),
        job=job,
        outcome=outcome,
        message=message[:2000],
        detail=detail,
        remote_addr=remote_addr,
    )


def audit_runpod_error(*, action, exc, message, user=None, endpoint=None, job=None, remote_addr=None) -> AuditEntry:
    """An action RunPod refused or failed: the sentence shown to the person, and RunPod's status code and body."""
    return audit_record(
        action=action,
        user=user,
        endpoint=endpoint,
        job=job,
        outcome="error",
        message=message,
        detail={"status_code": exc.status_code, "body": (exc.body or "")[:2000]},
        remote_addr=remote_addr,
    )
