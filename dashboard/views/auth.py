"""Log in, with failed attempts limited per username and per client address (LOGIN_RATE_LIMIT per window)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache

from .common import client_ip


def _keys(request) -> list[str]:
    username = (request.POST.get("username") or "").strip().lower()[:150]
    keys = [f"login-failures:addr:{client_ip(request)}"]
    if username:
        keys.append(f"login-failures:user:{username}")
    return keys


def _blocked(request) -> bool:
    return any((cache.get(key) or 0) >= settings.LOGIN_RATE_LIMIT for key in _keys(request))


def _count_failure(request) -> None:
    for key in _keys(request):
        if not cache.add(key, 1, timeout=settings.LOGIN_RATE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=settings.LOGIN_RATE_WINDOW)


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if _blocked(request):
            form = self.get_form()
            form.is_bound = False  # do not even check the password
            minutes = max(1, settings.LOGIN_RATE_WINDOW // 60)
            context = self.get_context_data(form=form, blocked=f"Too many failed attempts. Try again in {minutes} min.")
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        _count_failure(self.request)
        return super().form_invalid(form)
