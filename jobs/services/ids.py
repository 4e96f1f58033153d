"""One check for a RunPod job id, wherever one comes from: the track form, the API, RunPod's webhook."""

from jobs.constants import RUNPOD_ID_MAX_LENGTH

from .errors import InputError


def runpod_id_checked(runpod_id) -> str:
    """The id, stripped, or InputError saying why no RunPod URL could name it (empty, too long, whitespace,
    control characters, `.` or `..`)."""
    runpod_id = (runpod_id if isinstance(runpod_id, str) else "").strip()
    if (
        not runpod_id
        or len(runpod_id) > RUNPOD_ID_MAX_LENGTH
        or any(not c.isprintable() or c.isspace() for c in runpod_id)
    ):
        raise InputError(
            f"A RunPod job id is a single word of at most {RUNPOD_ID_MAX_LENGTH} printable characters.",
            field="runpod_id",
        )
    if runpod_id in (".", ".."):
        raise InputError("A RunPod job id cannot be . or .. (no URL can name it).", field="runpod_id")
    return runpod_id
