"""A py-spy profile of this process for the length of a `with` block, and its top entries as text.

    with py_spy("var/profile/poll-before"):     # writes poll-before.txt (collapsed stacks) and poll-before.top.txt
        ...

py-spy samples from outside the process (no slowdown worth measuring) and only while a thread is on the CPU
(idle waits are left out), so the shares below are shares of CPU time. Summarise an existing file with
`.venv/bin/python bench/profile.py var/profile/poll-before.txt`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

RATE = 200  # samples per second
# Frames of the event loop and of thread plumbing that every stack passes through: they say nothing of cost.
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>.+?)(?::(?P<line>\d+))?\)$")


def py_spy_path() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(stem: str | Path | None, *, rate: int = RATE):
    """Profile this process (all threads, native frames off) while the block runs; a no-op when stem is None."""
    if not stem:
        yield None
        return
    binary = py_spy_path()
    if binary is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install -c requirements/lock.txt py-spy")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    raw = stem.with_suffix(".txt")
    command = [binary, "record", "--pid", str(os.getpid()), "--rate", str(rate), "--format", "raw", "-o", str(raw)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches before the measured work starts
    try:
        yield raw
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
        if raw.exists():
            stem.with_suffix(".top.txt").write_text(summary(raw))


def _parse(raw: Path):
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((f"{match['func']} ({Path(match['file']).name})", _library(match["file"])))
            else:
                frames.append((frame, frame))
        yield frames, int(count)


def _library(path: str) -> str:
    """The package a file belongs to (py-spy names files from their import root: `httpx/_models.py`)."""
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in sys.stdlib_module_names or top.startswith("<"):
        return "stdlib: " + top
    return top


# Threads blocked in C (a queue's get, psycopg waiting on its socket, epoll) that py-spy still counts as running:
# left out of the shares, and their total reported apart.
BLOCKED = (
    "_worker (thread.py)",  # an executor thread waiting for work
    "_ChannelShutdownManager._run_safe_shutdown_loop (__init__.py)",  # pycares' idle thread
    "Connection.wait (connection.py)",  # psycopg waiting for PostgreSQL's answer
    "EpollSelector.select (selectors.py)",  # the event loop waiting for sockets
)


def summary(raw: Path, top: int = 30) -> str:
    """Self time by function (the leaf), time by module file (the leaf's), and inclusive time by function."""
    leaf, files, inclusive, total, blocked = Counter(), Counter(), Counter(), 0, 0
    for frames, count in _parse(raw):
        if not frames or frames[-1][0] in BLOCKED:
            blocked += count
            continue
        total += count
        leaf[frames[-1][0]] += count
        files[_owner(frames)] += count
        for name in {name for name, _ in frames}:
            inclusive[name] += count
    if not total:
        return "no samples\n"
    lines = [
        f"{total} samples on CPU ({raw.name}); {blocked} more in blocking waits left out ({', '.join(BLOCKED)})",
        "",
        "self time (leaf function):",
    ]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in leaf.most_common(top)]
    lines += ["", "self time by package (the innermost frame outside the standard library):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in files.most_common(top)]
    lines += ["", "inclusive time (function anywhere on the stack):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def _owner(frames) -> str:
    """Who a sample's time is for: the innermost frame outside the standard library (asyncio's own loop is the
    standard library's), so a socket write made by aiohttp counts for aiohttp."""
    for _, library in reversed(frames):
        if not library.startswith("stdlib"):
            return library
    return frames[-1][1]


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(summary(Path(path)))
