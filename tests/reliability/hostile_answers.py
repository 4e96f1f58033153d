"""Status objects and bodies RunPod (or something pretending to be it) could send: each is either stored as it
came or refused without harm, and never stops the rest of the batch."""

import json
from dataclasses import dataclass

from .servers import Answer, json_answer

HUGE_BYTES = 20 * 1024 * 1024


def nested(depth, leaf="bottom"):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json_text(depth) -> bytes:
    return b'{"id": "x", "status": "COMPLETED", "output": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


@dataclass(frozen=True)
class Case:
    name: str
    answer: Answer
    stored: bool  # True: the answer must be recorded (status and output); False: refused, the job left as it was
    status: str = ""  # the status we must show after storing
    output: object = None  # the output we must keep (None: not checked)


def completed(output, **extra):
    return {"status": "COMPLETED", "output": output, **extra}


CASES = [
    Case("huge-output", json_answer(completed({"blob": "x" * HUGE_BYTES})), True, "COMPLETED"),
    Case("deep-output-500", json_answer(completed(nested(500))), True, "COMPLETED", nested(500)),
    Case("deep-output-5000", Answer(body=deep_json_text(5_000)), False),
    Case("deep-output-200000", Answer(body=deep_json_text(200_000)), False),
    Case(
        "html-body",
        Answer(body=b"<html><h1>502 Bad Gateway</h1></html>", headers=(("content-type", "text/html"),)),
        False,
    ),
    Case("empty-body", Answer(body=b""), False),
    Case("json-list", json_answer([{"status": "COMPLETED"}]), False),
    Case("json-string", json_answer("COMPLETED"), False),
    Case("truncated-json", Answer(body=b'{"status": "COMPLETED", "output": {"te'), False),
    Case("invalid-utf8", Answer(body=b'{"status": "COMPLETED", "output": "\xff\xfe"}'), False),
    Case("unknown-state", json_answer({"status": "WARMING_UP", "workerId": "w1"}), True, "WARMING_UP"),
    Case("lowercase-running", json_answer({"status": "running"}), True, "IN_PROGRESS"),
    Case("no-fields", json_answer({}), True, "UNKNOWN"),
    Case("status-is-a-number", json_answer({"status": 42}), True, "UNKNOWN"),
    Case("status-is-a-list", json_answer({"status": ["COMPLETED"]}), True, "UNKNOWN"),
    Case("long-unknown-state", json_answer({"status": "S" * 5000}), True),
    Case("completed-no-output", json_answer({"status": "COMPLETED"}), True, "COMPLETED"),
    Case("completed-null-output", json_answer(completed(None)), True, "COMPLETED"),
    Case("output-is-a-string-with-markup", json_answer(completed("<script>alert(1)</script>")), True, "COMPLETED"),
    Case("nul-in-output", json_answer(completed({"text": "a\u0000b", "k\u0000": 1})), True, "COMPLETED"),
    Case("nul-in-error", json_answer({"status": "FAILED", "error": "bad\u0000thing"}), True, "FAILED"),
    Case("error-is-an-object", json_answer({"status": "FAILED", "error": {"error_type": "OOM"}}), True, "FAILED"),
    Case("lone-surrogate", Answer(body=b'{"status": "COMPLETED", "output": "\\ud800"}'), True, "COMPLETED"),
    Case("numbers-out-of-range", json_answer(completed(1, delayTime=1e300, executionTime=-5, retries=10**15)), True),
    Case("numbers-as-junk", json_answer(completed(1, delayTime="soon", executionTime=[1], retries={"n": 1})), True),
    Case(
        "nan-and-infinity", Answer(body=b'{"status": "COMPLETED", "output": [NaN, Infinity], "delayTime": NaN}'), True
    ),
    Case("huge-integer-output", Answer(body=b'{"status": "COMPLETED", "output": ' + b"9" * 5000 + b"}"), False),
    Case("long-worker-id", json_answer(completed(1, workerId="w" * 10_000)), True, "COMPLETED"),
    Case("worker-id-object", json_answer(completed(1, workerId={"id": 1})), True, "COMPLETED"),
    Case("another-jobs-id", json_answer(completed("not mine", id="someone-else")), True, "COMPLETED"),
    Case("error-status-code-body", json_answer({"error": "x" * 100_000}, status=500), False),
    Case("redirect", Answer(status=302, body=b"", headers=(("location", "http://evil.example/"),)), False),
]

# Job ids that must reach RunPod as one path segment, byte for byte, and show on the pages as text.
ODD_IDS = [
    "a/b?c#d",
    "../../purge-queue",
    "%2e%2e%2fcancel",
    "<script>alert('id')</script>",
    "ünïcødé-ジョブ-😀",
    "x" * 200,
    "semi;colon,comma=eq&amp",
    "back\\slash",
    "quote\"and'apostrophe",
]


def stream_cases():
    """(name, /stream answer, chunks that must be stored in order)."""
    big = "y" * (2 * 1024 * 1024)
    return [
        ("stream-not-a-list", {"status": "COMPLETED", "stream": "just text"}, ["just text"]),
        ("stream-items-without-output", {"status": "COMPLETED", "stream": [1, {"other": 2}]}, [1, {"other": 2}]),
        ("stream-chunk-over-1mb", {"status": "COMPLETED", "stream": [{"output": big}]}, [big]),
        (
            "stream-many-chunks",
            {"status": "COMPLETED", "stream": [{"output": i} for i in range(5000)]},
            list(range(5000)),
        ),
        ("stream-null-stream", {"status": "COMPLETED", "stream": None}, []),
        ("stream-deep-chunk", {"status": "COMPLETED", "stream": [{"output": nested(300)}]}, [nested(300)]),
    ]


def as_answer(data) -> Answer:
    return Answer(body=json.dumps(data).encode())
