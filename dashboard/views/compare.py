"""Two jobs side by side: status, options, timings, and what changed in their input and output (dashboard.diff).

Any signed-in role may compare. The jobs come from ?job=<ref>&job=<ref> (the jobs list's checkboxes, or a job
page's "compare with" box); a ref is the dashboard's job number or a RunPod job id.
"""

from dataclasses import dataclass
from itertools import islice

from django.views.decorators.http import require_GET

from dashboard.diff import json_diff
from jobs import selectors

from .common import render_page

# A streamed job's output is its chunks; at most this many are compared (the download has them all).
STREAM_COMPARED = 1_000
REF_MAX = 300


@dataclass(frozen=True)
class Timing:
    label: str
    a: int | None
    b: int | None

    @property
    def delta(self) -> int | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def magnitude(self) -> int | None:
        return None if self.delta is None else abs(self.delta)

    @property
    def ratio(self) -> float | None:
        return self.b / self.a if self.a and self.b is not None else None


@dataclass
class Side:
    """One job's value of a part (input or output), or why there is none to compare."""

    value: object = None
    missing: str = ""  # the reason, when there is nothing to compare
    note: str = ""  # what was compared, when it is not the part itself
    download: str = ""  # the job_json part holding all of it


def _total(job) -> int | None:
    if job.delay_ms is None or job.execution_ms is None:
        return None
    return job.delay_ms + job.execution_ms


def timings(a, b) -> list[Timing]:
    return [
        Timing("In queue", a.delay_ms, b.delay_ms),
        Timing("Execution", a.execution_ms, b.execution_ms),
        Timing("Total", _total(a), _total(b)),
    ]


def input_side(job) -> Side:
    if job.input is None:
        return Side(missing="Not known: submitted elsewhere and tracked by id.")
    return Side(job.input, download="input")


def output_side(job) -> Side:
    if job.has_output:
        return Side(job.output, download="output")
    if job.streaming and job.stream_seq:
        chunks = list(islice(selectors.job_chunk_outputs(job), STREAM_COMPARED))
        note = f"its {job.stream_seq:,} stream chunks" + (
            f" (the first {STREAM_COMPARED:,})" if job.stream_seq > STREAM_COMPARED else ""
        )
        return Side(chunks, note=note, download="stream")
    if not job.is_final:
        return Side(missing=f"None yet: the job is {job.status}.")
    return Side(missing="None stored.")


def part_context(name, a: Side, b: Side) -> dict:
    both = not a.missing and not b.missing
    return {"name": name, "a": a, "b": b, "diff": json_diff(a.value, b.value) if both else None}


def _resolve(reference):
    """The job a reference names, or the sentence saying why it names none (or several)."""
    jobs = selectors.job_by_reference(reference)
    if not jobs:
        return None, f"No job is numbered or has the RunPod id “{reference}”."
    if len(jobs) > 1:
        return None, f"The RunPod id “{reference}” is on several endpoints: use the job's number (as in its address)."
    return jobs[0], ""


def _picked(request) -> tuple[list, str, int]:
    """The two jobs asked for, oldest first; or an error sentence and its status code."""
    refs = [ref.strip()[:REF_MAX] for ref in request.GET.getlist("job") if ref.strip()]
    if len(refs) != 2:
        return refs, f"Pick exactly two jobs to compare (you gave {len(refs)}).", 400
    jobs = []
    for ref in refs:
        job, error = _resolve(ref)
        if job is None:
            return refs, error, 404
        jobs.append(job)
    if jobs[0].pk == jobs[1].pk:
        return refs, "Those are the same job twice: pick two different jobs.", 400
    return sorted(jobs, key=lambda job: (job.created_at, job.pk)), "", 200


@require_GET
def job_compare(request):
    if "job" not in request.GET:
        # Nothing asked yet: the page with its two boxes to fill in.
        return render_page(request, "dashboard/compare.html", {"refs": ["", ""]})
    picked, error, status = _picked(request)
    if error:
        context = {"error": error, "refs": picked + [""] * (2 - len(picked))}
        return render_page(request, "dashboard/compare.html", context, status=status)
    a, b = picked
    context = {
        "a": a,
        "b": b,
        "refs": [str(a.pk), str(b.pk)],
        "timings": timings(a, b),
        "parts": [
            part_context("input", input_side(a), input_side(b)),
            part_context("output", output_side(a), output_side(b)),
        ],
    }
    return render_page(request, "dashboard/compare.html", context)
