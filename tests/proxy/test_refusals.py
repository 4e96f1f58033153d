"""Bad tokens, Viewer tokens on actions, unknown endpoints, oversize and malformed bodies: RunPod's answers, and
nothing recorded. Each refusal is compared with what the simulator (our stand-in for RunPod) answers."""

import httpx
import pytest

from jobs.models import Job, StreamChunk

MB = 1024 * 1024


@pytest.fixture
def direct(sim):
    """A plain HTTP client straight to the simulator, with a key it accepts."""
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer any-key"}, timeout=30) as client:
        yield client


def raw_post(client, path, data: bytes):
    return client.post(path, data=data, content_type="application/json")


def assert_nothing_recorded():
    assert Job.objects.count() == 0
    assert StreamChunk.objects.count() == 0


def test_a_wrong_or_missing_token_is_401_like_a_wrong_key(client, proxy_endpoint, sim):
    """A made-up token, a malformed one and none at all answer 401 with RunPod's error shape."""
    for header in ({"HTTP_AUTHORIZATION": "Bearer rpd_abcdefghijkl_wrong"}, {"HTTP_AUTHORIZATION": "Bearer x"}, {}):
        response = client.post(
            f"/v2/{proxy_endpoint.runpod_id}/run", data=b'{"input": {}}', content_type="application/json", **header
        )
        assert response.status_code == 401
        assert "error" in response.json()
    direct = httpx.post(f"{sim.base_url}/{proxy_endpoint.runpod_id}/run", json={"input": {}}, timeout=10)
    assert direct.status_code == 401
    assert_nothing_recorded()


def test_an_unknown_endpoint_is_404(operator_client, direct):
    """An endpoint id not registered here answers 404, as RunPod does for an unknown endpoint."""
    response = raw_post(operator_client, "/v2/no-such-endpoint/run", b'{"input": {}}')
    assert response.status_code == 404
    assert "error" in response.json()
    assert direct.post("/no-such-endpoint/run", json={"input": {}}).status_code == 404
    assert_nothing_recorded()


def test_a_viewer_token_reads_but_cannot_act(viewer_client, proxy_endpoint):
    """A Viewer's token reads health but is refused /run, /runsync, /cancel, /retry and /purge-queue with 401."""
    base = f"/v2/{proxy_endpoint.runpod_id}"
    assert viewer_client.get(f"{base}/health").status_code == 200
    for path in ("run", "runsync", "cancel/some-job", "retry/some-job", "purge-queue"):
        response = raw_post(viewer_client, f"{base}/{path}", b'{"input": {"x": 1}}')
        assert response.status_code == 401, path
        assert "read status" in response.json()["error"]
    assert_nothing_recorded()


@pytest.mark.parametrize(("operation", "size"), [("run", 10 * MB + 1), ("runsync", 20 * MB + 1)])
def test_an_oversize_body_is_refused_like_runpod(operator_client, proxy_endpoint, direct, operation, size):
    """A body one byte over 10 MB (/run) or 20 MB (/runsync) gets the simulator's 413 and stores nothing."""
    filler = size - len(b'{"input": {"p": ""}}')
    body = b'{"input": {"p": "' + b"x" * filler + b'"}}'
    assert len(body) == size
    response = raw_post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/{operation}", body)
    expected = direct.post(f"/{proxy_endpoint.runpod_id}/{operation}", content=body).status_code
    assert response.status_code == expected == 413
    assert "error" in response.json()
    assert_nothing_recorded()


def test_a_body_at_the_limit_is_accepted(operator_client, proxy_endpoint):
    """A /run body of exactly 10 MB goes through."""
    filler = 10 * MB - len(b'{"input": {"p": ""}}')
    body = b'{"input": {"p": "' + b"x" * filler + b'"}}'
    response = raw_post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", body)
    assert response.status_code == 200, response.content[:200]
    assert Job.objects.get().input["p"] == "x" * filler


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"no_input": 1}', b'{"input": {"a": NaN'], ids=str)
def test_a_malformed_body_is_400_like_runpod(operator_client, proxy_endpoint, direct, body):
    """Malformed JSON, an empty body, a non-object or a body without input answer 400, as the simulator does."""
    response = raw_post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", body)
    expected = direct.post(f"/{proxy_endpoint.runpod_id}/run", content=body).status_code
    assert response.status_code == expected == 400
    assert "error" in response.json()
    assert_nothing_recorded()


def test_an_input_the_submit_form_refuses_is_400_with_its_reason(operator_client, proxy_endpoint):
    """A bad policy is refused with the same reason the submit form gives, before anything is sent."""
    body = b'{"input": {"a": 1}, "policy": {"ttl": 5}}'
    response = raw_post(operator_client, f"/v2/{proxy_endpoint.runpod_id}/run", body)
    assert response.status_code == 400
    assert "policy.ttl" in response.json()["error"]
    assert_nothing_recorded()


def test_a_revoked_token_is_refused_at_once_by_the_process_that_revoked_it(operator_client, proxy_endpoint):
    """A token remembered by the proxy is forgotten when it is revoked here: the next call is 401."""
    from api.models import ApiToken
    from api.tokens import token_revoke

    health = f"/v2/{proxy_endpoint.runpod_id}/health"
    assert operator_client.get(health).status_code == 200
    token = ApiToken.objects.get()
    token_revoke(token=token, user=token.user)
    assert operator_client.get(health).status_code == 401


def test_a_disabled_endpoint_is_404_at_once_after_it_is_saved_here(operator_client, proxy_endpoint):
    """An endpoint remembered by the proxy is forgotten when it is saved (disabled in the admin): 404 next."""
    health = f"/v2/{proxy_endpoint.runpod_id}/health"
    assert operator_client.get(health).status_code == 200
    proxy_endpoint.enabled = False
    proxy_endpoint.save()
    assert operator_client.get(health).status_code == 404


def test_a_token_revoked_elsewhere_is_refused_once_the_lookup_cache_runs_out(operator_client, proxy_endpoint, settings):
    """Revoked by another process (an update this process hears nothing of): refused within the cache's life."""
    from django.utils import timezone

    from api.models import ApiToken
    from tests.utils import wait_for

    settings.PROXY_LOOKUP_CACHE_SECONDS = 0.3
    health = f"/v2/{proxy_endpoint.runpod_id}/health"
    assert operator_client.get(health).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    wait_for(lambda: operator_client.get(health).status_code == 401, timeout=5, interval=0.05, message="a 401")
