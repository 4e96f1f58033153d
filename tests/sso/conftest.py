"""A real OpenID Connect provider for the single sign-on tests: panva's oidc-provider from npm (installed from
tests/sso/provider's package-lock.json by `make sso-provider`), started once per module on a free port
with the live server's callback as its client's redirect URI."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

# Playwright's sync API runs an event loop in the test thread (the browser test of single sign-on).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PROVIDER_DIR = Path(__file__).parent / "provider"
ROLE_MAP = "dash-admins=Admins,dash-operators=Operators,dash-viewers=Viewers"
OIDC_BACKEND = "dashboard.sso.RoleMappingOIDCBackend"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def oidc_provider(live_server, tmp_path_factory):
    """The provider's issuer URL and the file of groups it reads at each sign-in ({account: [groups]})."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the single sign-on tests need it to run the OIDC provider")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        pytest.skip("oidc-provider is not installed: run `make sso-provider` first")
    port = _free_port()
    groups_file = tmp_path_factory.mktemp("oidc") / "groups.json"
    groups_file.write_text("{}")
    process = subprocess.Popen(
        ["node", "provider.js", str(port), f"{live_server.url}/oidc/callback/", str(groups_file)],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # The first line it prints is "ready ISSUER" once it listens (node start-up is slow on a loaded machine).
        line = process.stdout.readline()
        if not line.startswith("ready "):
            pytest.fail(f"the OIDC provider did not start (exit {process.poll()}): {line!r}")
        issuer = line.split()[1]
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield {"issuer": issuer, "groups_file": groups_file}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso_settings(settings, oidc_provider):
    """Single sign-on pointed at the test provider, as the environment variables would set it up."""
    issuer = oidc_provider["issuer"]
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = "dashboard"
    settings.OIDC_RP_CLIENT_SECRET = "dashboard-test-secret"
    settings.OIDC_OP_ISSUER = issuer
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{issuer}/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{issuer}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{issuer}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{issuer}/jwks"
    settings.OIDC_ROLE_MAP = ROLE_MAP
    settings.OIDC_DEFAULT_ROLE = ""
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, OIDC_BACKEND]
    return settings


def provider_groups(oidc_provider, **groups):
    """Set what the provider says each account's groups are from the next sign-in on."""
    oidc_provider["groups_file"].write_text(json.dumps(groups))


@pytest.fixture
def http_sso(sso_settings):
    """For sso_sign_in: requests keeps Secure cookies off http://localhost, which browsers count as secure."""
    sso_settings.SESSION_COOKIE_SECURE = False
    return sso_settings


def sso_sign_in(base_url, account) -> requests.Response:
    """The whole code flow over HTTP, as a browser without JavaScript would: the dashboard's SSO start, the provider's
    development login form (any password), its redirect back to the callback, and the page the dashboard lands on."""
    session = requests.Session()
    page = session.get(f"{base_url}/oidc/authenticate/", timeout=20)
    page.raise_for_status()
    action = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"', page.text)
    assert action, f"no login form at the provider: {page.url}"
    answer = session.post(
        urljoin(page.url, action.group(1)),
        data={"prompt": "login", "login": account, "password": "any"},
        timeout=20,
    )
    answer.session = session
    return answer
