"""Every dashboard URL with the arguments to reach it, so access tests cover all of them (and notice new ones)."""

from dataclasses import dataclass
from datetime import timedelta

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from alerts.models import Alert, Silence
from dashboard.models import SavedView
from jobs.models import BulkAction, Endpoint, Job
from tests.factories import make_endpoint, make_job


@dataclass(frozen=True)
class Route:
    name: str
    methods: tuple[str, ...]
    args: tuple[str, ...] = ()  # "endpoint", "job" (a cancellable one), "failed" (a retryable one), or a literal
    data: tuple[tuple[str, str], ...] = ()  # a POST body that would succeed for an operator


# Pages and partials (GET), and every action (POST). The login page is public by design.
ROUTES = [
    Route("overview", ("GET",)),
    Route("overview_hx", ("GET",)),
    Route("endpoint_detail", ("GET",), ("endpoint",)),
    Route("endpoint_stats_hx", ("GET",), ("endpoint",)),
    Route("endpoint_purge", ("GET", "POST"), ("endpoint",), (("confirm", "{endpoint.name}"),)),
    Route("job_list", ("GET",)),
    Route("job_rows_hx", ("GET",)),
    Route(
        "job_submit",
        ("GET", "POST"),
        (),
        (("endpoint", "{endpoint.pk}"), ("input", '{{"prompt": "hi"}}'), ("mode", "async")),
    ),
    Route("job_track", ("POST",), (), (("endpoint", "{endpoint.pk}"), ("runpod_id", "tracked-elsewhere"))),
    Route("job_compare", ("GET",)),
    Route("job_detail", ("GET",), ("job",)),
    Route("job_live_hx", ("GET",), ("job",)),
    Route("job_stream_hx", ("GET",), ("job",)),
    Route("job_json", ("GET",), ("job", "input")),
    Route("job_cancel", ("POST",), ("job",)),
    Route("job_retry", ("POST",), ("failed",)),
    Route("job_run_again", ("POST",), ("failed",)),
    Route("audit_list", ("GET",)),
    Route("costs", ("GET",)),
    Route("job_cost_total_hx", ("GET",)),
    # Admins only: an operator is refused like a viewer (tests/dashboard/test_costs.py).
    Route("endpoint_price", ("GET", "POST"), ("endpoint",), (("price_per_second", "0.00031"),)),
    Route("bulk_new", ("GET", "POST"), (), (("kind", "cancel"), ("status", "IN_QUEUE"))),
    Route("bulk_detail", ("GET",), ("bulk",)),
    Route("bulk_stop", ("POST",), ("bulk",)),
    Route("alerts:list", ("GET",)),
    Route("alerts:detail", ("GET",), ("alert",)),
    Route("alerts:acknowledge", ("POST",), ("alert",), (("note", "looking"),)),
    Route("alerts:silence", ("POST",), ("alert",), (("minutes", "60"), ("reason", "deploy"))),
    Route("alerts:silence_end", ("POST",), ("silence",)),
    Route("alerts:failures", ("GET",)),
    Route("alerts:banner_hx", ("GET",)),
    Route("logout", ("POST",)),
    # A personal preference, open to every role (tested in tests/dashboard/test_overview_choices.py).
    Route("endpoint_pin", ("POST",), ("endpoint",), (("pinned", "1"),)),
    # Saved views: anyone keeps private ones; these bodies touch the team's, which only operators may.
    Route("saved_view_list", ("GET",)),
    Route("saved_views_menu_hx", ("GET",)),
    Route("saved_view_create", ("POST",), (), (("name", "Team queue"), ("team", "on"), ("query", "status=IN_QUEUE"))),
    Route("saved_view_rename", ("POST",), ("view",), (("v{view.pk}-name", "Renamed"),)),
    Route("saved_view_delete", ("POST",), ("view",)),
]
# The ways in: single sign-on's start and callback (tests/sso) and the admin's login, which obeys PASSWORD_LOGIN.
PUBLIC = {"login", "healthz", "sso_start", "sso_callback", "admin_login"}
# RunPod cannot log in: its webhook is guarded by a secret token in the URL instead (tested on its own). Programs
# use personal API tokens: /api/v1, /metrics and the /v2 proxy answer 401 themselves (tests/api, tests/proxy).
TOKEN_GUARDED = {"runpod_webhook", "metrics"}
TOKEN_GUARDED_PREFIXES = ("api:", "proxy_")
# Any signed-in user manages their own API tokens, so a Viewer's POST there is allowed (tests/api covers owners).
SELF_SERVICE = {"api_tokens", "api_token_revoke"}
# Routes only admins may POST to; the access tests send an admin where an operator would pass.
ADMIN_POSTS = {"endpoint_price"}
# Pinning is a personal preference open to every role (tests/dashboard/test_overview_choices.py covers it).
POSTS = [route for route in ROUTES if "POST" in route.methods and route.name not in ("logout", "endpoint_pin")]
GETS = [route for route in ROUTES if "GET" in route.methods]


@dataclass
class World:
    """The rows the routes act on: an endpoint, a cancellable job, a retryable one, a firing alert, a silence, a bulk
    action and a team saved view."""

    endpoint: Endpoint
    job: Job
    failed: Job
    alert: Alert
    silence: Silence
    bulk: BulkAction
    view: SavedView

    @classmethod
    def make(cls, **endpoint_fields):
        endpoint = make_endpoint(**endpoint_fields)
        job = make_job(endpoint, status="IN_QUEUE", input={"prompt": "queued"})
        failed = make_job(endpoint, status="FAILED", input={"prompt": "failed"}, error_raw="boom")
        return cls.around(endpoint, job, failed)

    @classmethod
    def around(cls, endpoint, job, failed):
        """The world of these rows, with an alert, a silence and a bulk action of their own."""
        alert = Alert.objects.create(
            kind="stuck_queue", endpoint=endpoint, key=f"stuck_queue:{endpoint.pk}", summary="queued 3 min"
        )
        silence = Silence.objects.create(
            key="failure_rate:other", kind="failure_rate", until=timezone.now() + timedelta(hours=1), reason="deploy"
        )
        bulk = BulkAction.objects.create(kind="cancel", filter_query=f"endpoint={endpoint.pk}")
        view = SavedView.objects.create(name=f"Team {endpoint.pk}", filters={"endpoint": str(endpoint.pk)})
        return cls(endpoint, job, failed, alert, silence, bulk, view)

    def url(self, route: Route) -> str:
        rows = ("endpoint", "job", "failed", "alert", "silence", "bulk", "view")
        args = [getattr(self, arg).pk if arg in rows else arg for arg in route.args]
        return reverse(route.name, args=args)

    def url_for(self, name: str) -> str:
        return self.url(next(route for route in ROUTES if route.name == name))

    def data(self, route: Route) -> dict:
        return {key.format(view=self.view): value.format(endpoint=self.endpoint) for key, value in route.data}


def dashboard_url_names(patterns=None, namespace="") -> set[str]:
    """Names of every URL in the URLconf outside the admin, included apps too (as `namespace:name`)."""
    names = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue  # the admin guards itself (tested separately)
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= dashboard_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def token_guarded(name: str) -> bool:
    return name in TOKEN_GUARDED or name.startswith(TOKEN_GUARDED_PREFIXES)
