"""Every dashboard URL with the arguments to reach it, so access tests cover all of them (and notice new ones)."""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from jobs.models import Endpoint, Job
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
    Route("job_detail", ("GET",), ("job",)),
    Route("job_live_hx", ("GET",), ("job",)),
    Route("job_stream_hx", ("GET",), ("job",)),
    Route("job_json", ("GET",), ("job", "input")),
    Route("job_cancel", ("POST",), ("job",)),
    Route("job_retry", ("POST",), ("failed",)),
    Route("job_run_again", ("POST",), ("failed",)),
    Route("audit_list", ("GET",)),
    Route("logout", ("POST",)),
]
PUBLIC = {"login"}
# RunPod cannot log in: its webhook is guarded by a secret token in the URL instead (tested on its own).
TOKEN_GUARDED = {"runpod_webhook"}
POSTS = [route for route in ROUTES if "POST" in route.methods and route.name != "logout"]
GETS = [route for route in ROUTES if "GET" in route.methods]


@dataclass
class World:
    """The rows the routes act on: an endpoint, a cancellable job and a retryable one."""

    endpoint: Endpoint
    job: Job
    failed: Job

    @classmethod
    def make(cls, **endpoint_fields):
        endpoint = make_endpoint(**endpoint_fields)
        job = make_job(endpoint, status="IN_QUEUE", input={"prompt": "queued"})
        failed = make_job(endpoint, status="FAILED", input={"prompt": "failed"}, error_raw="boom")
        return cls(endpoint, job, failed)

    def url(self, route: Route) -> str:
        args = [getattr(self, arg).pk if arg in ("endpoint", "job", "failed") else arg for arg in route.args]
        return reverse(route.name, args=args)

    def url_for(self, name: str) -> str:
        return self.url(next(route for route in ROUTES if route.name == name))

    def data(self, route: Route) -> dict:
        return {key: value.format(endpoint=self.endpoint) for key, value in route.data}


def dashboard_url_names() -> set[str]:
    """Names of every URL in the URLconf outside the admin."""
    names = set()
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            continue  # the admin, which guards itself (tested separately)
        if isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names
