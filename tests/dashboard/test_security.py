"""Every login path throttled alike, keyed by the username as Django looks it up and the client's real address;
the address taken from X-Forwarded-For only behind a trusted proxy; logins and failures audited."""

import pytest
from django.test import Client, RequestFactory

from dashboard.security import bounded, client_ip
from jobs.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
LOGIN_PATHS = ["/login/", "/admin/login/"]
ATTACKER = "192.0.2.66"
FULLWIDTH_VIEWER = "\uff56\uff49\uff45\uff57\uff45\uff52"  # "viewer" in fullwidth letters


def attempt(path, username, password, address=ATTACKER, **headers):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def logged_in_by(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_twenty_wrong_passwords_then_the_right_one_is_throttled_on_every_login_path(admin_user, settings, path):
    """The admin's login form counts failures like the site's: after the limit even the right password waits."""
    settings.LOGIN_RATE_LIMIT = 5
    answers = [attempt(path, "admin", f"guess-{n}").status_code for n in range(20)]
    assert answers[:4] == [200] * 4 and set(answers[4:]) == {429}, "the 5th failure starts the wait"
    final = attempt(path, "admin", PASSWORD)
    assert final.status_code == 429 and not logged_in_by(final)
    assert "Too many failed attempts" in final.content.decode()


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_the_real_user_from_another_address_logs_in_while_a_guesser_is_throttled(admin_user, path):
    """Someone else's wrong guesses slow that someone down; they never lock the account's owner out."""
    for n in range(20):
        attempt(path, "admin", f"guess-{n}")
    assert logged_in_by(attempt(path, "admin", PASSWORD, address="198.51.100.7"))


def test_a_fullwidth_username_counts_against_the_user_django_logs_in(viewer, settings):
    """Django's form normalises usernames with NFKC, so a fullwidth `viewer` is `viewer` to the throttle too."""
    settings.LOGIN_RATE_LIMIT = 3
    assert [attempt("/login/", FULLWIDTH_VIEWER, "wrong").status_code for _ in range(3)] == [200, 200, 429]
    assert attempt("/login/", "viewer", PASSWORD).status_code == 429
    assert logged_in_by(attempt("/login/", FULLWIDTH_VIEWER, PASSWORD, address="198.51.100.8"))


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(viewer, settings):
    """A guesser cannot pick a fresh address per attempt by sending X-Forwarded-For itself."""
    settings.LOGIN_RATE_LIMIT = 3
    for n in range(3):
        attempt("/login/", "viewer", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert attempt("/login/", "viewer", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.200").status_code == 429


def test_behind_a_trusted_proxy_each_user_is_counted_at_their_own_address(viewer, settings):
    """Everyone arrives from the proxy's address; the throttle and the audit log see each client's own one."""
    settings.LOGIN_RATE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    proxy = "10.0.0.5"
    for _ in range(5):
        attempt("/login/", "viewer", "wrong", address=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    blocked = attempt("/login/", "viewer", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert blocked.status_code == 429
    assert logged_in_by(attempt("/login/", "viewer", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.4"))
    entry = AuditEntry.objects.filter(action="login", outcome="ok").get()
    assert entry.remote_addr == "198.51.100.4" and entry.username == "viewer"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not a proxy of ours: the header is the client's own words
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # past every trusted hop, from the right
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_past_trusted_proxies_only(settings, remote, forwarded, expected):
    """X-Forwarded-For is read from the right and only past addresses listed in TRUSTED_PROXIES."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_logins_and_failed_logins_are_audited_with_the_address(viewer):
    """A failed login (with the username tried) and a successful one each leave an audit entry."""
    attempt("/admin/login/", FULLWIDTH_VIEWER, "wrong")
    attempt("/login/", "viewer", PASSWORD)
    failed = AuditEntry.objects.get(action="login", outcome="denied")
    assert failed.message == "Login failed for 'viewer'" and failed.remote_addr == ATTACKER
    assert AuditEntry.objects.filter(action="login", outcome="ok", user=viewer).exists()


def test_a_denied_request_stores_a_bounded_description(as_viewer):
    """A viewer's POST to a URL with a 3,900-digit id leaves a short audit row, not the whole path."""
    assert as_viewer.post("/jobs/" + "9" * 3900 + "/cancel/").status_code == 403
    entry = AuditEntry.objects.get(outcome="denied")
    assert len(entry.message) < 300
    assert bounded("x" * 250).endswith("… (250 characters)")
