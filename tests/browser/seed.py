"""Realistic rows for looking at the pages without RunPod: endpoints, an hour of health snapshots, and jobs in
every state with their timelines, errors, outputs and stream chunks."""

import base64
import json
import math
import random
import struct
import zlib
from datetime import timedelta

from django.utils import timezone

from jobs import services
from jobs.models import AuditEntry, Endpoint, HealthSnapshot, Job, StatusTransition, StreamChunk
from tests.factories import make_endpoint

TRACEBACK = """Traceback (most recent call last):
  File "/app/handler.py", line 42, in handler
    image = pipeline(prompt, num_inference_steps=steps).images[0]
  File "/usr/local/lib/python3.11/site-packages/diffusers/pipelines/pipeline_utils.py", line 1183, in __call__
    latents = self.scheduler.step(noise_pred, t, latents).prev_sample
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)"""


def gradient_png(width=160, height=100) -> str:
    """A small PNG (a dusk-coloured gradient) as base64, so the output gallery has a real image to show."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (40 + x * 180 // width, 60 + y * 90 // height, 140 + y // 2))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


def seed_snapshots(endpoint, now, *, minutes=60, seed=1, base_queue=4, workers=3, auth_failed=False):
    rng = random.Random(seed)
    rows = []
    for i in range(minutes * 6):
        t = now - timedelta(seconds=10 * (minutes * 6 - i))
        wave = (math.sin(i / 25) + 1) / 2
        queue = max(0, round(base_queue * wave * 2 + rng.randint(-1, 2)))
        running = min(workers, queue)
        rows.append(
            HealthSnapshot(
                endpoint=endpoint,
                taken_at=t,
                jobs_in_queue=queue,
                jobs_in_progress=running,
                jobs_completed=i * 3,
                workers_running=running,
                workers_idle=max(0, workers - running - 1),
                workers_ready=1,
                workers_initializing=1 if queue > workers else 0,
                workers_throttled=1 if i % 40 < 6 else 0,
            )
        )
    HealthSnapshot.objects.bulk_create(rows)
    if auth_failed:
        Endpoint.objects.filter(pk=endpoint.pk).update(auth_failed_at=now - timedelta(minutes=3))
    Endpoint.objects.filter(pk=endpoint.pk).update(last_health_at=now)


def make_history_job(endpoint, now, *, status, minutes_ago, user=None, **fields):
    """A job that went through the usual transitions up to `status`."""
    created = now - timedelta(minutes=minutes_ago)
    delay = fields.pop("delay_ms", random.randint(200, 4000))
    execution = fields.pop("execution_ms", random.randint(800, 20000))
    started = created + timedelta(milliseconds=delay)
    finished = started + timedelta(milliseconds=execution)
    final = status in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
    job = Job.objects.create(
        endpoint=endpoint,
        runpod_id=fields.pop("runpod_id", None)
        or f"{random.getrandbits(128):032x}"[:8] + "-6a92-4bb8-a911-f996ac5ea99d",
        status=status,
        input=fields.pop("input", {"prompt": "a lighthouse at dusk, oil painting", "steps": 30}),
        created_at=created,
        submitted_at=created,
        seen_at=created,
        submitted_by=user,
        delay_ms=delay if status != "IN_QUEUE" else None,
        execution_ms=execution if final else None,
        started_at=started if status != "IN_QUEUE" else None,
        finished_at=finished if final else None,
        archived=final,
        archived_at=finished if final else None,
        expires_at=(finished + timedelta(minutes=30)) if final else created + timedelta(hours=24),
        next_poll_at=None if final else now,
        worker_id=fields.pop("worker_id", "mx4ksz2h7yq0p3" if status != "IN_QUEUE" else ""),
        **fields,
    )
    steps = [("PENDING", "IN_QUEUE", created, "submit")]
    if status != "IN_QUEUE":
        steps.append(("IN_QUEUE", "IN_PROGRESS", started, "poll"))
    if final:
        steps.append(("IN_PROGRESS", status, finished, "poll"))
    StatusTransition.objects.bulk_create(
        StatusTransition(job=job, from_status=a, to_status=b, at=at, source=src) for a, b, at, src in steps
    )
    return job


def seed_demo(now=None, *, user=None):
    """Three endpoints (one healthy and busy, one quiet, one whose key RunPod refuses) and their jobs."""
    now = now or timezone.now()
    random.seed(7)
    sdxl = make_endpoint(name="sdxl-turbo", runpod_id="a1b2c3d4sdxl")
    llama = make_endpoint(name="llama-3-8b-instruct", runpod_id="k9l8m7llama")
    whisper = make_endpoint(name="whisper-large", runpod_id="w0w1w2whisper")
    seed_snapshots(sdxl, now, seed=1, base_queue=6, workers=4)
    seed_snapshots(llama, now, seed=2, base_queue=2, workers=2)
    seed_snapshots(whisper, now - timedelta(minutes=5), minutes=55, seed=3, base_queue=1, workers=1, auth_failed=True)
    jobs = {}
    for n in range(24):
        status = random.choice(["COMPLETED"] * 6 + ["FAILED", "TIMED_OUT", "CANCELLED"])
        make_history_job(sdxl if n % 2 else llama, now, status=status, minutes_ago=58 - n * 2, user=user)
    jobs["completed"] = make_history_job(
        sdxl,
        now,
        status="COMPLETED",
        minutes_ago=6,
        user=user,
        delay_ms=1840,
        execution_ms=7420,
        has_output=True,
        output={
            "images": [f"data:image/png;base64,{gradient_png()}"],
            "report": "https://example.com/results/lighthouse-report.html",
            "seed": 1234567,
            "timings": {"load": 0.41, "inference": 6.9},
            "note": "<script>alert('not run')</script>",
        },
        last_raw={"id": "x", "status": "COMPLETED"},
    )
    jobs["failed"] = make_history_job(
        sdxl,
        now,
        status="FAILED",
        minutes_ago=4,
        user=user,
        error={
            "error_type": "<class 'torch.OutOfMemoryError'>",
            "error_message": "CUDA out of memory. Tried to allocate 2.00 GiB",
            "error_traceback": TRACEBACK,
            "hostname": "mx4ksz2h7yq0p3-64410f2a",
            "worker_id": "mx4ksz2h7yq0p3",
        },
        error_raw=json.dumps({"error_type": "OOM"}),
    )
    jobs["running"] = make_history_job(llama, now, status="IN_PROGRESS", minutes_ago=1, user=user, streaming=True)
    words = ["The", "lighthouse", "keeper", "climbed", "the", "stairs", "as", "the", "storm", "rolled", "in"]
    StreamChunk.objects.bulk_create(
        StreamChunk(job=jobs["running"], seq=i, output=word + " ", received_at=now - timedelta(seconds=20 - i))
        for i, word in enumerate(words)
    )
    Job.objects.filter(pk=jobs["running"].pk).update(stream_seq=11)
    jobs["queued"] = make_history_job(sdxl, now, status="IN_QUEUE", minutes_ago=0.2, user=user)
    seed_audit(now, user, sdxl, jobs)
    return {"endpoints": [sdxl, llama, whisper], **jobs}


def seed_audit(now, user, endpoint, jobs):
    """A few entries of each outcome, as the actions above would have left them."""
    entries = [
        ("submit", jobs["completed"], None, "ok", "/run to sdxl-turbo", 6),
        ("submit", jobs["failed"], None, "ok", "/run to sdxl-turbo", 4),
        ("retry", jobs["failed"], None, "error", "RunPod is rate limiting this endpoint (429). Try again shortly.", 3),
        ("purge", None, endpoint, "ok", "RunPod removed 12 queued job(s)", 2),
        ("cancel", jobs["running"], None, "denied", "POST refused: the user may not cancel", 1),
    ]
    for action, job, target, outcome, message, minutes in entries:
        entry = services.audit_record(
            action=action,
            user=user,
            job=job,
            endpoint=target,
            outcome=outcome,
            message=message,
            remote_addr="10.0.4.17",
        )
        AuditEntry.objects.filter(pk=entry.pk).update(at=now - timedelta(minutes=minutes))
