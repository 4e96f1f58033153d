"""Bad input, property-based: whatever is typed into the submit form, any POST action, any query parameter of any
page, or the body of a webhook, the answer is a clear 4xx or a form error (never a 500), and nothing is stored
half-way: an action either happened whole (with its audit entry) or left no trace."""

import json

import pytest
from django.core.cache import caches
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from dashboard import saved_views
from dashboard.models import SavedView
from jobs.models import AuditEntry, Endpoint, Job, StatusTransition
from jobs.services.webhooks import webhook_path
from tests.factories import make_endpoint

from .figures import Tally, record
from .routes import World
from .strategies import anything, nasty_text, numberish, query_values, raw_json_inputs, url_like

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
TALLIES: dict[str, Tally] = {}


def tally(name) -> Tally:
    return TALLIES.setdefault(name, Tally())


@pytest.fixture(scope="module", autouse=True)
def write_figures():
    yield
    totals = Tally()
    for item in TALLIES.values():
        totals.tried += item.tried
        for status, n in item.by_status.items():
            totals.by_status[status] = totals.by_status.get(status, 0) + n
    record("bad_input", total=totals.as_dict(), by_surface={name: t.as_dict() for name, t in sorted(TALLIES.items())})


@pytest.fixture
def world(hostile):
    world = World.make(name="fuzz", base_url=hostile.base_url, api_key="rpa_FUZZKEY_1")
    make_endpoint(name="off", enabled=False, base_url=hostile.base_url)
    return world


def footprint():
    return (
        Job.objects.count(),
        StatusTransition.objects.count(),
        AuditEntry.objects.exclude(outcome="denied").count(),
        Endpoint.objects.count(),
    )


def answered(name, response):
    tally(name).add(response.status_code)
    assert response.status_code < 500 or response.status_code in (502, 503), response.status_code
    return response


VALID_SUBMIT = {
    "endpoint": "fuzz",
    "mode": "async",
    "webhook": "",
    "execution_timeout": "",
    "ttl": "",
    "low_priority": "",
}
JUNK = {
    "endpoint": st.one_of(st.just("off"), anything),
    "mode": st.one_of(st.sampled_from(["sync", "stream"]), anything),
    "webhook": url_like,
    "execution_timeout": numberish,
    "ttl": numberish,
    "low_priority": st.sampled_from(["on", "false", "\x00"]),
}


@st.composite
def submit_fields(draw):
    """A form valid but for its input and at most two other fields, so most draws reach the services."""
    fields = {**VALID_SUBMIT, "input": draw(raw_json_inputs)}
    for name in draw(st.lists(st.sampled_from(sorted(JUNK)), max_size=2, unique=True)):
        fields[name] = draw(JUNK[name])
    return fields


@given(fields=submit_fields(), htmx=st.booleans())
def test_the_submit_form_never_fails_and_never_stores_half_a_job(as_operator, world, fields, htmx):
    """Any submit form either creates one whole job (and its audit entry) or answers 4xx with nothing stored."""
    names = {"fuzz": world.endpoint.pk, "off": Endpoint.objects.get(name="off").pk}
    data = {**fields, "endpoint": names.get(fields["endpoint"], fields["endpoint"])}
    jobs_before, transitions, audit, _ = footprint()
    response = answered("submit form", as_operator.post(reverse("job_submit"), data, **(HX if htmx else {})))
    created = Job.objects.count() - jobs_before
    if response.status_code in (200, 302) and created:
        job = Job.objects.latest("pk")
        assert created == 1 and job.input == json.loads(fields["input"]) and job.status == "PENDING"
        assert AuditEntry.objects.exclude(outcome="denied").count() == audit + 1
    else:
        assert response.status_code in (413, 422), response.status_code
        assert footprint()[:3] == (jobs_before, transitions, audit)


@given(endpoint=st.one_of(st.just("fuzz"), anything), runpod_id=anything, streaming=anything, htmx=st.booleans())
def test_tracking_any_id_tracks_it_whole_or_refuses_it(as_operator, world, endpoint, runpod_id, streaming, htmx):
    """The track form stores a tracked job with its audit entry, or refuses with a form error."""
    data = {"endpoint": world.endpoint.pk if endpoint == "fuzz" else endpoint, "runpod_id": runpod_id}
    if streaming:
        data["streaming"] = streaming
    before = footprint()
    response = answered("track form", as_operator.post(reverse("job_track"), data, **(HX if htmx else {})))
    if response.status_code == 422:
        assert footprint()[:3] == before[:3]
    else:
        job = Job.objects.get(endpoint=world.endpoint, runpod_id=runpod_id.strip())
        assert job.tracked and AuditEntry.objects.filter(job=job, action="track").exists()


EXACT_NAME = object()


@given(confirm=st.one_of(st.just(EXACT_NAME), anything))
def test_the_purge_form_only_purges_on_the_exact_name(as_operator, world, hostile, confirm):
    """A purge POST reaches RunPod only with the endpoint's exact name typed; otherwise it is a 422."""
    asked = len(hostile.requests("purge-queue"))
    typed = world.endpoint.name if confirm is EXACT_NAME else confirm
    response = answered("purge form", as_operator.post(world.url_for("endpoint_purge"), {"confirm": typed}))
    reached = len(hostile.requests("purge-queue")) - asked
    assert reached == (1 if typed.strip() == world.endpoint.name else 0)
    assert response.status_code == (502 if reached else 422)


ACTIONS = ["job_cancel", "job_retry", "job_run_again"]


@given(
    action=st.sampled_from(ACTIONS),
    pk=st.one_of(st.integers(min_value=0, max_value=10**30), st.sampled_from(["job", "failed"])),
    body=st.dictionaries(anything, anything, max_size=3),
    htmx=st.booleans(),
)
def test_job_actions_on_any_id_answer_cleanly(as_operator, world, action, pk, body, htmx):
    """Cancel, retry and run again on any id (huge, missing, wrong state) answer 404, 409, 502 or succeed whole."""
    target = getattr(world, pk).pk if isinstance(pk, str) else pk
    before = footprint()
    response = answered(
        "job actions",
        as_operator.post(
            f"/jobs/{target}/{action.removeprefix('job_').replace('_', '-')}/", body, **(HX if htmx else {})
        ),
    )
    if response.status_code in (404, 409):
        assert footprint()[:3] == before[:3]


PAGE_PARAMS = {
    "job_list": ["q", "endpoint", "status", "range", "since", "until", "by", "after", "before"],
    "job_rows_hx": ["ids", "top", "compact", "q", "endpoint", "status", "range", "by"],
    "audit_list": ["action", "outcome", "user", "endpoint", "after", "before"],
    "endpoint_detail": ["window"],
    "job_stream_hx": ["after"],
    "job_submit": ["endpoint"],
    "overview": ["q", "sort", "view", "page"],
    "endpoint_purge": [],
}


@given(
    page=st.sampled_from(sorted(PAGE_PARAMS)),
    data=st.data(),
    extra=st.dictionaries(nasty_text, anything, max_size=2),
    htmx=st.booleans(),
    target=st.sampled_from(["", "charts", "results", "\x00"]),
)
def test_every_query_parameter_of_every_page_is_answered_cleanly(as_operator, world, page, data, extra, htmx, target):
    """Filters, cursors, ids, windows and unknown parameters with any value render the page (or a 4xx)."""
    params = {
        name: data.draw(query_values, label=name)
        for name in data.draw(
            st.lists(st.sampled_from(PAGE_PARAMS[page]) if PAGE_PARAMS[page] else st.nothing(), unique=True)
        )
    }
    params.update(extra)
    headers = {**HX, "HTTP_HX_TARGET": target} if htmx else {}
    response = answered("query parameters", as_operator.get(world.url_for(page), params, **headers))
    assert response.status_code in (200, 400), response.status_code


@given(pk=st.integers(min_value=-1, max_value=10**30), part=anything)
def test_any_id_and_part_in_a_url_is_a_404_or_a_page(as_viewer, world, pk, part):
    """Ids past any integer column and parts that do not exist are plain 404s."""
    for url in (f"/jobs/{pk}/", f"/jobs/{pk}/hx/live/", f"/endpoints/{pk}/", f"/jobs/{world.job.pk}/{part}.json"):
        response = answered("ids in URLs", as_viewer.get(url))
        assert response.status_code in (200, 404), (url, response.status_code)


@pytest.fixture
def private_cache(settings):
    """The failed-login counters of a fuzz run must not block other tests' logins from 127.0.0.1 (or touch Redis)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fuzz"}}
    yield
    caches["default"].clear()


@given(username=anything, password=anything)
def test_any_login_attempt_is_answered_cleanly(client, world, private_cache, username, password):
    """Logging in with anything is a form error, a 429 once rate-limited, or a redirect; never a 500."""
    data = {"username": username, "password": password}
    response = answered("login form", client.post(reverse("login"), data, REMOTE_ADDR="192.0.2.99"))
    assert response.status_code in (200, 302, 429)


@given(body=st.one_of(raw_json_inputs, st.binary(max_size=200)))
def test_any_webhook_body_is_recorded_whole_or_refused(client, world, body):
    """RunPod's webhook URL records a well-formed status object, and answers 4xx to anything else."""
    before = footprint()
    url = webhook_path(world.endpoint)
    response = answered("webhook body", client.post(url, body, content_type="application/json"))
    if response.status_code != 200:
        assert response.status_code in (400, 413)
        assert footprint()[:3] == before[:3]


@given(name=anything, query=st.one_of(anything, st.just("status=FAILED&endpoint=x&evil=<b>")), team=st.booleans())
def test_any_saved_view_is_stored_whole_or_refused_with_a_form_error(as_operator, world, name, query, team):
    """Any name and filter text: the view is saved with a tidy name and known filter fields only, or a 422 form error
    says why and nothing is stored."""
    before = SavedView.objects.count()
    data = {"name": name, "query": query, **({"team": "on"} if team else {})}
    response = answered("saved view form", as_operator.post(reverse("saved_view_create"), data, **HX))
    if response.status_code == 200:
        view = SavedView.objects.latest("pk")
        assert view.name == " ".join(name.split()) and set(view.filters) <= set(saved_views.FILTER_FIELDS)
        assert SavedView.objects.count() == before + 1
    else:
        assert response.status_code == 422 and b"field-error" in response.content
        assert SavedView.objects.count() == before
