"""Error signatures: failures that differ only in numbers, ids, paths or hex share one group."""

import hashlib
import re

from jobs.services.state import parse_error

# Order matters: the longer shapes first, so a uuid is not eaten as hex and numbers.
MASKS = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}[/\\]?"), "<path>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[\w-]*\d)[a-z0-9]+(?:-[a-z0-9]+)+\b", re.I), "<id>"),
    (re.compile(r"\b(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]{12,}\b", re.I), "<id>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.I), "<n>"),
)
MESSAGE_CHARS = 500
# runpod-python reports the type as Python's repr of the class: "<class 'RuntimeError'>".
CLASS_REPR = re.compile(r"<class '([\w.]+)'>")


def mask(message: str) -> str:
    for pattern, token in MASKS:
        message = pattern.sub(token, message)
    return " ".join(message.split())[:MESSAGE_CHARS]


def error_parts(status: str, error_raw: str, error=None) -> tuple[str, str]:
    """(error type, message) of a failed job: RunPod's JSON error when there is one, else the raw text."""
    parsed = error if isinstance(error, dict) else parse_error(error_raw)
    if parsed:
        kind = str(parsed.get("error_type") or parsed.get("type") or status)
        message = str(parsed.get("error_message") or parsed.get("message") or "")
    else:
        kind, message = status, error_raw or ""
    if match := CLASS_REPR.fullmatch(kind.strip()):
        kind = match.group(1)
    if not message and status == "TIMED_OUT":
        message = "execution timeout exceeded"
    return kind.strip()[:200] or status, message.strip().splitlines()[0] if message.strip() else ""


def error_signature(status: str, error_raw: str, error=None) -> tuple[str, str, str]:
    """(signature, error type, masked message)."""
    kind, message = error_parts(status, error_raw, error)
    masked = mask(message)
    digest = hashlib.sha1(f"{kind}\n{masked}".encode(), usedforsecurity=False).hexdigest()
    return digest, kind, masked
