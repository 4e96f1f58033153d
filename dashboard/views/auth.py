"""Log in. Failed attempts are throttled per (username, address) by django-axes in authenticate(), which the
admin's login goes through too (settings: LOGIN_RATE_LIMIT, LOGIN_RATE_WINDOW; dashboard/security.py). Single sign-on
(dashboard/sso.py) adds a button; with PASSWORD_LOGIN off it is the only way in, here and at the admin's login."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.urls import reverse

from dashboard.sso import sso_enabled


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            password_login=settings.PASSWORD_LOGIN,
            sso=sso_enabled(),
            sso_provider=settings.OIDC_PROVIDER_NAME,
            sso_failed=self.request.GET.get("sso") == "failed",
        )
        return context

    def post(self, request, *args, **kwargs):
        if not settings.PASSWORD_LOGIN:
            # The form is not shown, but a scripted POST gets the same page and a reason, not a password check.
            context = self.get_context_data(form=self.get_form_class()(request), password_off=True)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)


@login_not_required
def admin_login(request):
    """The admin's login page while passwords are allowed; otherwise the site's login, which offers only SSO."""
    if settings.PASSWORD_LOGIN:
        return admin.site.login(request)
    return redirect(f"{reverse('login')}?{urlencode({'next': request.GET.get('next', '/admin/')})}")
