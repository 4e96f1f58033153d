"""Single sign-on in Chromium against the real OIDC provider: the login page's button, the provider's login form,
the overview with the role the groups claim gives, and signing out."""

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import launched_chromium, screenshot_dir
from tests.sso.conftest import provider_groups

pytestmark = pytest.mark.browser


# Module scope: Playwright's loop must be gone before other packages' tests call asyncio.run().
@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    context.set_default_timeout(15_000)
    # The provider's development pages import a web font; nothing here may reach the internet.
    context.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    yield context.new_page()
    context.close()


def sign_in(page, base, account):
    page.goto(f"{base}/login/")
    page.click("text=Sign in with Test IdP")
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_an_operator_signs_in_through_the_provider_acts_and_signs_out(
    transactional_db, live_server, sso_settings, oidc_provider, page
):
    """The provider's operators group gives the action buttons on the overview; signing out ends the session."""
    provider_groups(oidc_provider, **{"olive": ["staff", "dash-operators"]})
    page.goto(f"{live_server.url}/login/")
    assert page.locator("a.sso-button").inner_text() == "Sign in with Test IdP"
    page.screenshot(path=str(screenshot_dir() / "sso-login.png"), full_page=True)

    sign_in(page, live_server.url, "olive")
    assert page.locator("a", has_text="Submit a job").count() == 1
    assert "olive" in page.content()
    page.screenshot(path=str(screenshot_dir() / "sso-overview-operator.png"), full_page=True)
    assert list(User.objects.get(username="olive").groups.values_list("name", flat=True)) == ["Operators"]

    page.click("form.logout button")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")


def test_a_viewer_signs_in_with_passwords_off_and_sees_no_action_buttons(
    transactional_db, live_server, sso_settings, oidc_provider, page
):
    """With password login off the page offers only the button; the viewers group gives no buttons that act."""
    sso_settings.PASSWORD_LOGIN = False
    provider_groups(oidc_provider, **{"victor": ["dash-viewers"]})
    page.goto(f"{live_server.url}/login/")
    assert page.locator("input[name=password]").count() == 0
    page.screenshot(path=str(screenshot_dir() / "sso-login-passwords-off.png"), full_page=True)
    sign_in(page, live_server.url, "victor")
    assert page.locator("a", has_text="Submit a job").count() == 0
    assert list(User.objects.get(username="victor").groups.values_list("name", flat=True)) == ["Viewers"]
