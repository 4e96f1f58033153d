"""The overview at many endpoints: search by name, the attention sort, pins, the table view and pages."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.models import PinnedEndpoint
from jobs.models import HealthSnapshot
from tests.factories import make_endpoint, make_job, make_user
from tests.utils import logged_in

from .conftest import HX

pytestmark = pytest.mark.django_db


def snapshot(endpoint, *, seconds_ago=5, **fields):
    return HealthSnapshot.objects.create(
        endpoint=endpoint, taken_at=timezone.now() - timedelta(seconds=seconds_ago), **fields
    )


def names(response):
    return [s.endpoint.name for s in response.context["summaries"]]


@pytest.fixture
def zoo(db):
    """One endpoint per attention reason, plus two healthy ones, each with a fresh snapshot."""
    refused = make_endpoint(name="zz-refused", auth_failed_at=timezone.now())
    failing = make_endpoint(name="yy-failing")
    growing = make_endpoint(name="xx-growing")
    unhealthy = make_endpoint(name="ww-unhealthy")
    calm = [make_endpoint(name="aa-calm"), make_endpoint(name="bb-calm")]
    for endpoint in [failing, unhealthy, *calm]:
        snapshot(endpoint, seconds_ago=400, jobs_in_queue=3)
        snapshot(endpoint, jobs_in_queue=3, workers_running=1, workers_unhealthy=2 if endpoint is unhealthy else 0)
    snapshot(growing, seconds_ago=400, jobs_in_queue=2)
    snapshot(growing, jobs_in_queue=9)
    now = timezone.now()
    for status in ("FAILED", "FAILED", "COMPLETED"):
        make_job(failing, status=status, finished_at=now - timedelta(minutes=5), delay_ms=10, execution_ms=10)
    return {"refused": refused, "failing": failing, "growing": growing, "unhealthy": unhealthy, "calm": calm}


def test_attention_sort_puts_a_refused_key_then_failing_growing_and_unhealthy_first(as_viewer, zoo):
    """The default order is by what needs a look, most urgent first, then the healthy ones by name."""
    response = as_viewer.get(reverse("overview"))
    assert names(response) == ["zz-refused", "yy-failing", "xx-growing", "ww-unhealthy", "aa-calm", "bb-calm"]
    html = response.content.decode()
    for label in ("Key refused", "Failing", "Queue growing", "Workers unhealthy"):
        assert f">{label}</span>" in html


def test_other_sorts_are_by_name_queue_and_failures(as_viewer, zoo):
    """Name, deepest queue and most failures order the endpoints as they say."""
    assert names(as_viewer.get(reverse("overview"), {"sort": "name"}))[:2] == ["aa-calm", "bb-calm"]
    assert names(as_viewer.get(reverse("overview"), {"sort": "queue"}))[0] == "xx-growing"
    assert names(as_viewer.get(reverse("overview"), {"sort": "failed"}))[0] == "yy-failing"


def test_search_finds_endpoints_by_part_of_their_name(as_viewer, zoo):
    """The search keeps endpoints whose name contains the text, in any case, and the totals say so."""
    response = as_viewer.get(reverse("overview"), {"q": "CALM"})
    assert sorted(names(response)) == ["aa-calm", "bb-calm"]
    assert "Matching" in response.content.decode()


def test_a_search_that_finds_nothing_says_so_and_offers_to_clear_it(as_viewer, zoo):
    """No match is an explained empty state with a link back to every endpoint, not an empty page."""
    html = as_viewer.get(reverse("overview"), {"q": "<nothing>"}).content.decode()
    assert "No endpoint matches “&lt;nothing&gt;”" in html and "Clear the search" in html


def test_choices_come_back_in_the_controls_after_a_reload(as_viewer, zoo):
    """Search, sort and view are in the URL, and the page shows them chosen."""
    html = as_viewer.get(reverse("overview"), {"q": "calm", "sort": "queue", "view": "table"}).content.decode()
    assert 'name="q" value="calm"' in html
    assert '<option value="queue" selected>' in html
    assert 'value="table" checked' in html


@pytest.mark.parametrize(
    "params", [{"sort": "nope"}, {"view": "grid"}, {"page": "-3"}, {"page": "x"}, {"q": "a" * 500}, {"q": "\x00"}]
)
def test_unknown_choices_fall_back_to_the_defaults(as_viewer, zoo, params):
    """A made-up sort, view or page shows the usual overview rather than an error."""
    response = as_viewer.get(reverse("overview"), params)
    assert response.status_code == 200
    assert response.context["choices"].sort in ("attention", "name", "queue", "failed")


def test_pinned_endpoints_come_first_whatever_the_sort(as_viewer, viewer, zoo):
    """A pinned endpoint leads the page, before the more urgent ones, and shows as pinned."""
    PinnedEndpoint.objects.create(user=viewer, endpoint=zoo["calm"][1])
    response = as_viewer.get(reverse("overview"))
    assert names(response)[:2] == ["bb-calm", "zz-refused"]
    assert 'aria-pressed="true"' in response.content.decode()


def test_a_viewer_pins_and_unpins_without_javascript(as_viewer, viewer, zoo):
    """The pin form posts, then returns to the overview as it was (same query)."""
    url = reverse("endpoint_pin", args=[zoo["calm"][0].pk])
    response = as_viewer.post(url, {"pinned": "1", "next": "/?sort=name&view=table"})
    assert response.status_code == 302 and response["Location"] == "/?sort=name&view=table"
    assert PinnedEndpoint.objects.filter(user=viewer, endpoint=zoo["calm"][0]).count() == 1
    as_viewer.post(url, {"pinned": "1", "next": "/"})  # pinning twice keeps one pin
    assert PinnedEndpoint.objects.filter(user=viewer).count() == 1
    as_viewer.post(url, {"pinned": "0", "next": "/"})
    assert not PinnedEndpoint.objects.filter(user=viewer).exists()


def test_pins_are_per_person(as_viewer, viewer, zoo):
    """Another user's pins do not move anything on my page."""
    other = make_user("Viewers")
    logged_in(other).post(reverse("endpoint_pin", args=[zoo["calm"][1].pk]), {"pinned": "1"})
    assert names(as_viewer.get(reverse("overview")))[0] == "zz-refused"


def test_pinning_through_htmx_returns_the_overview_body_for_the_same_choices(as_viewer, zoo):
    """The answer is the body to swap in, for the view and sort the page had."""
    url = reverse("endpoint_pin", args=[zoo["calm"][1].pk])
    response = as_viewer.post(url, {"pinned": "1", "next": "/?view=table&sort=name"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="overview-body"') and 'class="overview-table"' in html
    assert html.index("bb-calm") < html.index("aa-calm")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""])
def test_pinning_never_redirects_off_the_site(as_viewer, zoo, target):
    """A next pointing elsewhere sends the person to the overview instead."""
    response = as_viewer.post(reverse("endpoint_pin", args=[zoo["calm"][0].pk]), {"pinned": "1", "next": target})
    assert response["Location"] == "/"


def test_pinning_needs_a_login_and_the_csrf_token(client, viewer, zoo):
    """Anonymous visitors go to the login page; a post without the token is refused."""
    url = reverse("endpoint_pin", args=[zoo["calm"][0].pk])
    assert client.post(url, {"pinned": "1"}).status_code == 302
    assert logged_in(viewer, enforce_csrf_checks=True).post(url, {"pinned": "1"}).status_code == 403
    assert not PinnedEndpoint.objects.exists()


def test_pinning_an_unknown_endpoint_is_404(as_viewer):
    """A wrong id is a plain 404."""
    assert as_viewer.post(reverse("endpoint_pin", args=[9999]), {"pinned": "1"}).status_code == 404


def test_the_table_view_has_a_row_per_endpoint_with_its_figures(as_viewer, zoo):
    """The dense table shows every endpoint's state and figures on one line, with no charts."""
    html = as_viewer.get(reverse("overview"), {"view": "table"}).content.decode()
    assert html.count('<tr id="row-') == 6
    assert "chart-svg" not in html
    row = html[html.index(f'id="row-{zoo["unhealthy"].pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Workers unhealthy" in row and 'class="num c-text-failed">2<' in row


def test_many_endpoints_come_in_pages_of_cards(as_viewer):
    """Thirty endpoints are a first page of 24 cards and a second of 6, with links between them."""
    for n in range(30):
        make_endpoint(name=f"ep-{n:02d}")
    first = as_viewer.get(reverse("overview"), {"sort": "name"})
    assert len(first.context["summaries"]) == 24
    html = first.content.decode()
    assert "Page 1 of 2" in html and "?sort=name&amp;page=2" in html
    second = as_viewer.get(reverse("overview"), {"sort": "name", "page": "2"})
    assert names(second) == [f"ep-{n:02d}" for n in range(24, 30)]
    assert len(as_viewer.get(reverse("overview"), {"view": "table"}).context["summaries"]) == 30


def test_a_page_past_the_end_shows_the_last_page(as_viewer, zoo):
    """A bookmarked page number that no longer exists shows the last one."""
    response = as_viewer.get(reverse("overview"), {"page": "40"})
    assert response.status_code == 200 and len(response.context["summaries"]) == 6


def test_the_controls_swap_only_the_body(as_viewer, zoo):
    """A search typed with htmx gets the body back, not the page (the search box keeps its focus)."""
    response = as_viewer.get(reverse("overview"), {"q": "calm"}, HTTP_HX_TARGET="overview-body", **HX)
    html = response.content.decode()
    assert "<html" not in html and 'id="overview-controls"' not in html
    assert html.count("endpoint-card") == 2
