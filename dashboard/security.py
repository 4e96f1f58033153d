"""Who is asking: the client's address behind trusted proxies, and the login throttle's key and answer.

Every login path (the site's form and the admin's) goes through `django.contrib.auth.authenticate`, where
django-axes counts failures per (username, address) pair: see docs/reliability.md, "Hostile install", for why.
"""

import ipaddress
import unicodedata
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.shortcuts import render

FORWARDED_HEADER = "HTTP_X_FORWARDED_FOR"
# What a refused request may put in the audit log of its own text (a path, an id): enough to recognise it.
DESCRIPTION_MAX_CHARS = 200


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in proxies if entry.strip())


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy (TRUSTED_PROXIES).

    Then X-Forwarded-For is read from the right, past every trusted proxy, and the first other address is the
    client: entries to its left were written by the client and may be anything. A header from an untrusted peer
    is never read, so nobody picks their own address by sending one.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(_address(remote or ""), networks):
        return remote
    client = remote
    for entry in reversed(request.META.get(FORWARDED_HEADER, "").split(",")):
        address = _address(entry)
        if address is None:
            break  # garbage from the far side of our proxies: the last good address is as far as we can trust
        client = str(address)
        if not _trusted(address, networks):
            break
    return client


def login_username(request, credentials=None) -> str:
    """The username as Django's login form looks it up (NFKC), so `viewer` in fullwidth letters counts as `viewer`."""
    if credentials and credentials.get("username") is not None:
        username = credentials["username"]
    else:
        username = request.POST.get("username", "") if request is not None else ""
    return unicodedata.normalize("NFKC", str(username))[:150]


def login_failure_limit(request, credentials=None) -> int:
    return settings.LOGIN_RATE_LIMIT


def login_cool_off(request=None) -> timedelta:
    return timedelta(seconds=settings.LOGIN_RATE_WINDOW)


def login_throttled(request, original_response=None, credentials=None):
    """The login page again with the reason, for the site's login and the admin's alike (429)."""
    minutes = max(1, settings.LOGIN_RATE_WINDOW // 60)
    blocked = (
        f"Too many failed attempts for this username from your address. Try again in {minutes} min; "
        "logging in from elsewhere is not affected."
    )
    return render(request, "registration/login.html", {"blocked": blocked, "next": ""}, status=429)


def bounded(text: str, limit: int = DESCRIPTION_MAX_CHARS) -> str:
    """Text a client chose, cut to `limit` characters with its full length said, for the audit log."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def audit_login(sender, request, user, **kwargs):
    from jobs.services import audit_record

    # authenticate() marks the backend that let the user in: single sign-on's is named with its provider and role.
    if getattr(user, "backend", "") == "dashboard.sso.RoleMappingOIDCBackend":
        roles = ", ".join(sorted(user.groups.values_list("name", flat=True))) or "no role"
        message = f"Logged in through {settings.OIDC_PROVIDER_NAME} as {roles}"
    else:
        message = "Logged in"
    audit_record(action="login", user=user, message=message, remote_addr=client_ip(request))


def audit_login_failed(sender, credentials, request=None, **kwargs):
    """Every failed login, throttled or not, with the username as Django would look it up."""
    from jobs.services import audit_record

    if request is None:
        return
    throttled = getattr(request, "axes_locked_out", False)
    if request.resolver_match and request.resolver_match.url_name == "sso_callback":
        # The provider's answer names nobody we trust yet (no mapped group, a bad token): say which path it was.
        message = f"Sign-in through {settings.OIDC_PROVIDER_NAME} {'throttled' if throttled else 'refused'}"
    else:
        username = bounded(login_username(request, credentials))
        message = f"Login {'throttled' if throttled else 'failed'} for {username!r}"
    audit_record(action="login", outcome="denied", message=message, remote_addr=client_ip(request))
