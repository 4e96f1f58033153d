"""Load runs against the simulator: a mix of jobs submitted in bulk, and the books kept at the end (what was run,
what was lost, what was stored twice)."""

import json
import random
import time
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from jobs.models import Job, JobStatus, StatusTransition, StreamChunk
from jobs.tasks import send_job

STREAM_CHUNKS = 8


@dataclass(frozen=True)
class Kind:
    name: str
    input: dict
    mode: str = "run"
    streaming: bool = False
    expect: str = "COMPLETED"


def job_mix(total, *, runsync=30, streams=30, seed=1) -> list[Kind]:
    """Mostly plain /run jobs, with failures, output-less and progress jobs, runsync jobs and streams."""
    rng = random.Random(seed)
    kinds = []
    for i in range(total - runsync - streams):
        if i % 25 == 0:
            kinds.append(Kind("failing", {"n": i, "simulate": {"seconds": 0.05, "fail": f"bad {i}"}}, expect="FAILED"))
        elif i % 40 == 1:
            kinds.append(Kind("no_output", {"n": i, "simulate": {"seconds": 0.05, "no_output": True}}))
        elif i % 40 == 2:
            kinds.append(Kind("progress", {"n": i, "simulate": {"seconds": 0.3, "progress": True, "interval": 0.1}}))
        else:
            kinds.append(Kind("normal", {"n": i, "pad": "x" * rng.randint(0, 200)}))
    # Longer than the worker's runsync wait, so RunPod hands back an id that must be polled within 60 s.
    kinds += [Kind("runsync", {"n": i, "simulate": {"seconds": 1.5}}, mode="runsync") for i in range(runsync)]
    stream = {"simulate": {"stream": STREAM_CHUNKS, "interval": 0.15}}
    kinds += [Kind("stream", {"n": i, **stream}, streaming=True) for i in range(streams)]
    rng.shuffle(kinds)
    return kinds


def bulk_submit(endpoint, kinds) -> list[Job]:
    """PENDING jobs as job_submit stores them, created in bulk, each handed to the worker to send."""
    now = timezone.now()
    fields = {"endpoint": endpoint, "status": JobStatus.PENDING, "created_at": now}
    jobs = Job.objects.bulk_create(Job(mode=k.mode, streaming=k.streaming, input=k.input, **fields) for k in kinds)
    for job in jobs:
        send_job.delay(job.pk)
    return jobs


def wait_progressing(count, target, *, stall=90.0, message="the run to finish"):
    """Wait until count() reaches target, for as long as it keeps rising: fail only after `stall` seconds without
    progress. A loaded machine makes a run slower, not wrong; a lost job makes it stop short."""
    last, last_change = count(), time.monotonic()
    while last < target:
        time.sleep(0.25)
        now_count = count()
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise AssertionError(f"{message}: stuck at {last} of {target} for {stall:.0f} s")
    return last


def unsettled(endpoint):
    """Jobs neither archived, nor refused at submission, nor gone at RunPod (expired: a loss, counted apart)."""
    return Job.objects.filter(endpoint=endpoint, archived=False, expired=False, not_found=False).exclude(
        status=JobStatus.SUBMIT_FAILED
    )


def wait_settled(endpoint, *, stall=90.0):
    """Until every job has settled, as long as jobs keep settling."""
    total = Job.objects.filter(endpoint=endpoint).count()
    try:
        wait_progressing(lambda: total - unsettled(endpoint).count(), total, stall=stall, message="every job settled")
    except AssertionError as exc:
        left = unsettled(endpoint)
        sample = list(left.values_list("runpod_id", "status", "streaming", "poll_failures", "next_poll_at")[:10])
        raise AssertionError(f"{exc}; {left.count()} left, e.g. {sample}") from exc


def books(endpoint, kinds, sim_stats, *, created=None) -> dict:
    """The figures of a run, and every discrepancy found (which must be none).

    `created`: jobs RunPod created for this endpoint; by default the simulator's count (one endpoint per run).
    """
    jobs = Job.objects.filter(endpoint=endpoint)
    sent = jobs.filter(runpod_id__isnull=False)
    problems = []
    lost = sent.filter(archived=False).count() + sent.filter(expired=True).count()
    if lost:
        problems.append(f"{lost} job(s) RunPod ran were not archived")
    created = sim_stats["engine"].get("jobs_created", 0) if created is None else created
    if created != sent.count():
        problems.append(f"RunPod created {created} jobs for {sent.count()} ids we hold (a job sent twice or lost)")
    problems += _wrong_results(jobs, kinds)
    chunk_problems, chunks = _stream_books(sent.filter(streaming=True))
    problems += chunk_problems
    doubled = (
        StatusTransition.objects.filter(job__endpoint=endpoint)
        .values("job", "from_status", "to_status")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if doubled:
        problems.append(f"{doubled} transition(s) recorded twice")
    return {
        "jobs_submitted": len(kinds),
        "jobs_run_by_runpod": sent.count(),
        "jobs_archived": sent.filter(archived=True).count(),
        "refused_at_submission": jobs.filter(status=JobStatus.SUBMIT_FAILED).count(),
        "results_lost": lost,
        "duplicate_jobs": max(0, created - sent.count()),
        "duplicate_chunks": chunks["duplicates"],
        "chunks_stored": chunks["stored"],
        "chunks_produced": sim_stats.get("chunks_produced", 0),
        "duplicate_transitions": doubled,
        "transitions": StatusTransition.objects.filter(job__endpoint=endpoint).count(),
        "problems": problems,
    }


def _wrong_results(jobs, kinds) -> list[str]:
    problems = []
    expected = {_key(k.input): k for k in kinds}
    for job in jobs.filter(archived=True).only("input", "status", "output", "has_output", "error_raw"):
        kind = expected[_key(job.input)]
        if job.status != kind.expect:
            problems.append(f"{kind.name} job {job.runpod_id} ended {job.status}")
        elif kind.name == "normal" and job.output != job.input:
            problems.append(f"job {job.runpod_id} has the wrong output")
        elif kind.name == "failing" and "bad" not in job.error_raw:
            problems.append(f"job {job.runpod_id} lost its error")
    return problems[:20]


def _key(value) -> str:
    # PostgreSQL's jsonb reorders keys, so compare inputs by their canonical JSON.
    return json.dumps(value, sort_keys=True)


def _stream_books(streams):
    problems, stored, duplicates = [], 0, 0
    for job in streams:
        outputs = list(StreamChunk.objects.filter(job=job).order_by("seq").values_list("output", flat=True))
        stored += len(outputs)
        indexes = [o.get("index") for o in outputs]
        duplicates += len(indexes) - len(set(indexes))
        if indexes != list(range(STREAM_CHUNKS)):
            problems.append(f"stream {job.runpod_id} stored chunks {indexes}")
    return problems[:20], {"stored": stored, "duplicates": duplicates}


def progress_report(endpoint, sim=None, worker=None) -> str:
    """Where a run stands, for the message of a test that timed out."""
    jobs = Job.objects.filter(endpoint=endpoint)
    by_status = dict(jobs.values_list("status").annotate(n=Count("id")))
    fresh = type(endpoint).objects.get(pk=endpoint.pk)
    lines = [
        f"by status: {by_status}; archived {jobs.filter(archived=True).count()}; unsent "
        f"{jobs.filter(runpod_id__isnull=True).count()}; with poll failures {jobs.filter(poll_failures__gt=0).count()}",
        f"endpoint: backoff_until={fresh.backoff_until} count={fresh.backoff_count} last_poll_at={fresh.last_poll_at} "
        f"last_error={fresh.last_error!r}",
    ]
    for job in jobs.filter(runpod_id__isnull=False, archived=False)[:5]:
        steps = list(job.transitions.values_list("from_status", "to_status", "source", "at"))
        lines.append(
            f"unarchived {job.runpod_id} {job.mode} {job.status} expired={job.expired} failures={job.poll_failures}"
            f" next={job.next_poll_at} lease={job.lease_until} seen={job.seen_at} transitions={steps}"
        )
        if hasattr(sim, "log"):
            asked = [
                (r.operation, r.start, round(r.end - r.start, 2), r.status)
                for r in sim.log.entries
                if r.job_id == job.runpod_id
            ]
            lines.append(f"  its requests (operation, unix time, seconds, status): {asked}")
    if sim is not None:
        stats = sim.stats()
        lines.append(f"simulator: faults={stats['faults']} requests={stats['requests']} jobs={stats['jobs']}")
    if worker is not None:
        lines.append("worker log tail:\n" + "\n".join(worker.output().splitlines()[-40:]))
    return "\n".join(lines)
