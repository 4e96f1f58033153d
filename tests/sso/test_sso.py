"""Single sign-on against a real OpenID Connect provider over HTTP: first sign-in creates the user with the role its
groups claim gives, every sign-in applies the mapping again, refusals, the audit entry, password login switched
off (the site's form and the admin's), and django-axes' throttle leaving the callback alone."""

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from dashboard.sso import role_for_claims
from jobs.models import AuditEntry
from tests.factories import make_user
from tests.sso.conftest import ROLE_MAP, provider_groups, sso_sign_in


def roles(username):
    return sorted(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_the_highest_mapped_group_gives_the_role(settings):
    """The highest role among the mapped groups wins; a lone string counts; no mapped group means the default."""
    settings.OIDC_ROLE_MAP = ROLE_MAP
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_DEFAULT_ROLE = ""
    assert role_for_claims({"groups": ["staff", "dash-viewers", "dash-operators"]}) == "Operators"
    assert role_for_claims({"groups": ["dash-admins", "dash-viewers"]}) == "Admins"
    assert role_for_claims({"groups": "dash-viewers"}) == "Viewers"
    assert role_for_claims({"groups": ["staff"]}) is None
    assert role_for_claims({}) is None
    settings.OIDC_DEFAULT_ROLE = "Viewers"
    assert role_for_claims({"groups": ["staff"]}) == "Viewers"


def test_first_sign_in_creates_the_user_and_every_sign_in_applies_the_groups_claim(
    transactional_db, live_server, http_sso, oidc_provider
):
    """A new account is created as an Operator; moved to viewers at the provider, its next sign-in makes it a Viewer."""
    provider_groups(oidc_provider, carol=["dash-operators"])
    answer = sso_sign_in(live_server.url, "carol")
    assert answer.status_code == 200 and answer.url == f"{live_server.url}/"
    user = User.objects.get(username="carol")
    assert roles("carol") == ["Operators"] and not user.has_usable_password()
    assert user.email == "carol@example.test"
    entry = AuditEntry.objects.filter(action="login", user=user).latest("pk")
    assert entry.message == "Logged in through Test IdP as Operators"

    provider_groups(oidc_provider, carol=["staff", "dash-viewers"])
    assert sso_sign_in(live_server.url, "carol").url == f"{live_server.url}/"
    assert roles("carol") == ["Viewers"]


def test_someone_in_no_mapped_group_is_refused_and_told_why(transactional_db, live_server, http_sso):
    """An account in none of the mapped groups lands on the login page with the reason and no user is created."""
    answer = sso_sign_in(live_server.url, "mallory")
    assert answer.url == f"{live_server.url}/login/?sso=failed"
    assert "did not complete" in answer.text
    assert not User.objects.filter(username="mallory").exists()
    entry = AuditEntry.objects.filter(action="login").latest("pk")
    assert (entry.outcome, entry.message) == ("denied", "Sign-in through Test IdP refused")


def test_an_existing_local_account_is_taken_over_with_the_claimed_role(transactional_db, live_server, http_sso):
    """A local user of the same name signs in through SSO and gets the provider's role, not the old one."""
    make_user("Admins", username="dave-viewer", is_staff=True)
    assert sso_sign_in(live_server.url, "dave-viewer").url == f"{live_server.url}/"
    user = User.objects.get(username="dave-viewer")
    assert roles("dave-viewer") == ["Viewers"] and not user.is_staff


def test_the_login_throttle_leaves_sso_sign_in_working(transactional_db, live_server, http_sso):
    """Throttled for password guesses from this address, the same person still signs in through the provider."""
    make_user("Viewers", username="erin-operator", password="right-password-123")
    client = Client()
    for _ in range(http_sso.LOGIN_RATE_LIMIT + 1):
        client.post("/login/", {"username": "erin-operator", "password": "wrong"}, REMOTE_ADDR="127.0.0.1")
    assert client.post("/login/", {"username": "erin-operator", "password": "right-password-123"}).status_code == 429
    assert sso_sign_in(live_server.url, "erin-operator").url == f"{live_server.url}/"
    assert roles("erin-operator") == ["Operators"]


def test_with_password_login_off_the_page_offers_only_sso(transactional_db, live_server, sso_settings, client):
    """The login page has the SSO button and no password field; a posted password is refused with 403."""
    sso_settings.PASSWORD_LOGIN = False
    make_user("Admins", username="frank", password="right-password-123", is_staff=True, is_superuser=True)
    page = client.get("/login/")
    html = page.content.decode()
    assert "Sign in with Test IdP" in html and 'name="password"' not in html
    refused = client.post("/login/", {"username": "frank", "password": "right-password-123"})
    assert refused.status_code == 403 and "Password login is switched off" in refused.content.decode()
    assert client.get("/").status_code == 302
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, username="frank", password="right-password-123") is None


def test_with_password_login_off_the_admin_login_sends_people_to_sso(db, client, settings):
    """The admin's login redirects to the site's login (which has only SSO) and its form accepts no password."""
    settings.PASSWORD_LOGIN = False
    make_user("Admins", username="grace", password="right-password-123", is_staff=True, is_superuser=True)
    answer = client.get("/admin/login/?next=/admin/")
    assert answer.status_code == 302 and answer["Location"] == "/login/?next=%2Fadmin%2F"
    answer = client.post("/admin/login/", {"username": "grace", "password": "right-password-123"})
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    assert client.get("/admin/").status_code == 302


def test_without_sso_configured_its_urls_are_not_found(db, client, settings):
    """With no client id the SSO start and callback are 404s, never a setup error, and the page has no button."""
    settings.OIDC_RP_CLIENT_ID = ""
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in client.get("/login/").content.decode()
