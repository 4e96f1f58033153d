"""Single sign-on through one OpenID Connect provider (mozilla-django-oidc does the code flow, PKCE and token
checks). The provider's groups claim decides the role on every sign-in, so moving someone between groups at the
provider changes what they may do here the next time they sign in; someone in none of the mapped groups is refused
unless OIDC_DEFAULT_ROLE names a role. A first sign-in creates the user, without a usable password.

Users are matched by username (the OIDC_USERNAME_CLAIM, preferred_username by default): a local account with the
same name becomes the provider's, which is how an existing team moves over to SSO.
"""

import unicodedata

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from jobs.roles import ROLES

# Highest first: someone in several mapped groups gets the most their groups allow.
ROLE_ORDER = ["Admins", "Operators", "Viewers"]


def role_map(text: str) -> dict[str, str]:
    """OIDC_ROLE_MAP's "provider-group=Role,…" as {provider group: role}; an unknown role is a setup error."""
    mapping = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        group, sep, role = pair.partition("=")
        if not sep or role.strip() not in ROLES:
            raise ValueError(f"OIDC_ROLE_MAP entry {pair.strip()!r} is not provider-group=Viewers|Operators|Admins")
        mapping[group.strip()] = role.strip()
    return mapping


def role_for_claims(claims: dict) -> str | None:
    """The role the provider's claims give: the highest mapped group, else OIDC_DEFAULT_ROLE (None: refused)."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        # Some providers send a single group as a string rather than a one-item list.
        groups = [groups]
    mapping = role_map(settings.OIDC_ROLE_MAP)
    roles = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    for role in ROLE_ORDER:
        if role in roles:
            return role
    return settings.OIDC_DEFAULT_ROLE or None


def username_for_claims(claims: dict) -> str:
    """The username the claims name, normalised as Django's login form does (NFKC)."""
    value = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or ""
    return unicodedata.normalize("NFKC", str(value)).strip()[:150]


def role_apply(user, role: str) -> None:
    """Make `role` the user's only role group; Admins also reach the admin site, as demo_setup's admin does."""
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))
    if user.is_staff != (role == "Admins"):
        user.is_staff = role == "Admins"
        user.save(update_fields=["is_staff"])


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    """The provider's user, matched and created by username, with the role its groups claim gives."""

    def verify_claims(self, claims):
        return bool(username_for_claims(claims)) and role_for_claims(claims) is not None

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=username_for_claims(claims))

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(username_for_claims(claims), email=claims.get("email") or "")
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        role_apply(user, role_for_claims(claims))
        return user


def sso_enabled() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID)


@login_not_required
def sso_start(request):
    """Send the browser to the provider (404 when SSO is not configured, never a setup error as a 500)."""
    if not sso_enabled():
        raise Http404("Single sign-on is not configured.")
    return OIDCAuthenticationRequestView.as_view()(request)


@login_not_required
def sso_callback(request):
    """The provider's answer: sign in (audited as a login) or back to the login page saying it did not work."""
    if not sso_enabled():
        raise Http404("Single sign-on is not configured.")
    return OIDCAuthenticationCallbackView.as_view()(request)


class PasswordLoginSwitchBackend:
    """Refuses every username-and-password sign-in, the site's form and the admin's alike, when PASSWORD_LOGIN is
    off; placed before ModelBackend so the refusal is on the server, not only a hidden form."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if password is not None and not settings.PASSWORD_LOGIN:
            raise PermissionDenied("Password login is switched off.")
        return None
