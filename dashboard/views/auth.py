"""Log in. Failed attempts are throttled per (username, address) by django-axes in authenticate(), which the
admin's login goes through too (settings: LOGIN_RATE_LIMIT, LOGIN_RATE_WINDOW; dashboard/security.py)."""

from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
