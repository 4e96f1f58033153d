"""Hostile data from RunPod: huge and deeply nested outputs, bodies that are not JSON, unknown states, missing or
absurd fields, odd job ids. Each answer is stored or refused cleanly, the rest of the batch is stored, and every
page still renders."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.models import Job, StreamChunk
from jobs.services.polling import poll_round
from tests.factories import make_job
from tests.utils import logged_in

from .figures import record
from .hostile_answers import CASES, ODD_IDS, Case, as_answer, stream_cases
from .servers import json_answer

pytestmark = pytest.mark.django_db(transaction=True)

FINE = {"status": "COMPLETED", "output": {"fine": True}}


def poll_once(endpoint):
    """Make every job due and run one polling round over the endpoint."""
    Job.objects.filter(endpoint=endpoint).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    return poll_round([endpoint.pk], budget_seconds=5)


def pages_render(client, jobs):
    """Every page showing these jobs answers 200."""
    urls = [reverse("overview"), reverse("job_list"), jobs[0].endpoint.get_absolute_url()]
    for job in jobs:
        urls.append(job.get_absolute_url())
        urls += [reverse("job_json", args=[job.pk, part]) for part in ("output", "error", "raw", "stream")]
    failing = [(url, status) for url in urls if (status := client.get(url).status_code) != 200]
    assert failing == []


def case_problem(case: Case, job: Job) -> str:
    """What is wrong with how the job took the hostile answer ("" if nothing)."""
    job.refresh_from_db()
    if case.stored:
        if job.poll_failures or job.last_polled_at is None:
            return f"{case.name}: not stored"
        if case.status and job.status != case.status:
            return f"{case.name}: status {job.status[:50]}"
        if case.output is not None and job.output != case.output:
            return f"{case.name}: output changed"
    elif job.status != "IN_QUEUE" or job.archived or not job.poll_failures or job.next_poll_at is None:
        return f"{case.name}: not refused ({job.status[:50]}, {job.poll_failures} failures)"
    return ""


def test_every_hostile_status_answer_is_stored_or_refused_without_stopping_the_batch(hostile, hostile_endpoint, viewer):
    """One job per hostile answer beside well-behaved ones: each hostile one stored or refused, the others archived."""
    jobs = {}
    for case in CASES:
        jobs[case.name] = make_job(hostile_endpoint, runpod_id=f"job-{case.name}", status="IN_QUEUE", seen_at=None)
        hostile.on("status", f"job-{case.name}", case.answer)
    neighbours = [make_job(hostile_endpoint, runpod_id=f"fine-{i}", status="IN_QUEUE") for i in range(20)]
    hostile.on("status", None, json_answer(FINE))

    poll_once(hostile_endpoint)

    problems = [problem for case in CASES if (problem := case_problem(case, jobs[case.name]))]
    assert problems == []
    for job in neighbours:
        job.refresh_from_db()
        assert job.archived and job.output == {"fine": True}
    hostile_endpoint.refresh_from_db()
    assert not hostile_endpoint.key_refused and hostile_endpoint.backoff_until is None
    pages_render(logged_in(viewer), [*jobs.values(), neighbours[0]])
    record(
        "hostile_status_answers",
        cases=len(CASES),
        stored=sum(case.stored for case in CASES),
        refused=sum(not case.stored for case in CASES),
        neighbours_archived=len(neighbours),
        answers=[case.name for case in CASES],
    )


def test_refused_answers_do_not_stop_polling_of_the_same_job(hostile, hostile_endpoint):
    """A job whose answer was garbage is polled again, and archived once RunPod answers properly."""
    job = make_job(hostile_endpoint, runpod_id="flaky", status="IN_QUEUE")
    hostile.on("status", "flaky", next(case.answer for case in CASES if case.name == "html-body"))
    poll_once(hostile_endpoint)
    hostile.on("status", "flaky", json_answer(FINE))
    poll_once(hostile_endpoint)
    job.refresh_from_db()
    assert job.archived and job.output == {"fine": True} and job.poll_failures == 0


@pytest.mark.parametrize("odd_id", ODD_IDS)
def test_an_odd_job_id_reaches_runpod_as_one_segment_and_renders_as_text(hostile, hostile_endpoint, viewer, odd_id):
    """Tracked by its odd id, the job is asked for at /status/<that id> exactly, archived, and shown escaped."""
    job = services.job_track(endpoint=hostile_endpoint, runpod_id=odd_id)
    hostile.on("status", odd_id, json_answer({"id": odd_id, **FINE}))
    poll_once(hostile_endpoint)
    asked = hostile.requests("status")
    assert [seen.job_id for seen in asked] == [odd_id]
    assert asked[0].raw_path.count("/") == 4, asked[0].raw_path
    job.refresh_from_db()
    assert job.archived and job.runpod_id == odd_id
    client = logged_in(viewer)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "<script>alert('id')" not in page
    assert client.get(reverse("job_list"), {"q": odd_id}).status_code == 200
    download = client.get(reverse("job_json", args=[job.pk, "output"]))
    assert "/" not in download["Content-Disposition"].split("filename=")[1]


@pytest.mark.parametrize("odd_id", [".", "..", "a b", "", " "])
def test_ids_that_cannot_name_a_job_are_refused_when_tracking(hostile_endpoint, odd_id):
    """Ids no URL can carry as one segment are refused with a message, and nothing is stored."""
    with pytest.raises(services.InputError):
        services.job_track(endpoint=hostile_endpoint, runpod_id=odd_id)
    assert not Job.objects.exists()


@pytest.mark.parametrize("run_answer", [{"id": "ok-but-odd/../id", "status": "IN_QUEUE"}, {"id": "i" * 300}])
def test_a_run_answer_with_an_odd_or_overlong_id_is_recorded_or_refused_cleanly(hostile, hostile_endpoint, run_answer):
    """/run answering an odd id keeps it verbatim; one too long to store fails the send with a message."""
    hostile.on("run", None, json_answer(run_answer))
    job = services.job_submit(endpoint=hostile_endpoint, input={"p": 1})
    services.job_send(job.pk)
    job.refresh_from_db()
    if len(run_answer["id"]) <= 200:
        assert job.runpod_id == run_answer["id"] and job.status == "IN_QUEUE"
    else:
        assert job.status == "SUBMIT_FAILED" and job.runpod_id is None and job.submit_error


@pytest.mark.parametrize(("name", "answer", "chunks"), stream_cases(), ids=[c[0] for c in stream_cases()])
def test_hostile_stream_answers_keep_every_chunk_in_order(hostile, hostile_endpoint, viewer, name, answer, chunks):
    """Odd /stream answers are kept chunk for chunk, and the job's page and stream download still work."""
    job = make_job(hostile_endpoint, runpod_id=name, status="IN_PROGRESS", streaming=True)
    hostile.on("stream", name, as_answer(answer))
    hostile.on("status", name, json_answer({"status": "COMPLETED"}))
    poll_once(hostile_endpoint)
    stored = list(StreamChunk.objects.filter(job=job).order_by("seq").values_list("output", flat=True))
    assert stored == chunks
    client = logged_in(viewer)
    assert client.get(job.get_absolute_url()).status_code == 200
    assert json.loads(b"".join(client.get(reverse("job_json", args=[job.pk, "stream"])).streaming_content)) == chunks


@pytest.mark.parametrize(
    "health",
    [{"workers": "lots", "jobs": {"inQueue": "many", "completed": 1e300}}, [], "ok", {"jobs": {"inQueue": -3}}],
)
def test_hostile_health_answers_never_break_snapshots_or_pages(hostile, hostile_endpoint, viewer, health):
    """A /health answer of the wrong shape is stored as zeros or refused; the endpoint's pages render."""
    hostile.on("health", None, json_answer(health))
    services.endpoints_snapshot_health([hostile_endpoint.pk])
    client = logged_in(viewer)
    assert client.get(hostile_endpoint.get_absolute_url()).status_code == 200
    assert client.get(reverse("overview")).status_code == 200
