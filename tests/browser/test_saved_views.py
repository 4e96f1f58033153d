"""Saved views in Chromium: a viewer saves a private view, an operator a team view, and both show in the nav's
Views menu with their counts of active jobs, refreshed when the menu opens; a view opens the jobs page filtered."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard import saved_views
from dashboard.models import SavedView
from tests.factories import make_endpoint, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def save_view(page, name, *, team=False):
    page.click(".save-view > summary")
    page.fill("#id_view_name", name)
    if team:
        page.check("#id_view_team")
    page.click("#save-view-form button[type=submit]")


def open_menu(page):
    page.click(".views-menu > summary")
    return page.locator(".views-pop")


def test_saved_views_from_the_jobs_page_to_the_nav_and_back(as_user, login_as, monkeypatch):
    """Private and team views, their counts in the nav, and opening one."""
    monkeypatch.setattr(saved_views, "COUNT_SECONDS", 0)  # every opening of the menu counts again
    endpoint = make_endpoint(name="demo-gpu")
    now = timezone.now()
    for n in range(3):
        make_job(endpoint, status="IN_QUEUE", next_poll_at=now, runpod_id=f"queued-{n}")
    make_job(endpoint, status="FAILED", runpod_id="failed-1")

    # A viewer filters the list, saves it for themself: no team box is offered.
    viewer = as_user("Viewers", username="vera")
    page = viewer.go("/jobs/")
    page.select_option("#id_status", "FAILED")
    expect(page.locator("#job-rows tr")).to_have_count(1)  # the list (and the save form with it) follows the filter
    page.click(".save-view > summary")
    expect(page.locator("#id_view_team")).to_have_count(0)
    page.click(".save-view > summary")  # closed again, as save_view opens it
    save_view(page, "My failures")
    page.wait_for_url("**/jobs/?status=FAILED")
    expect(page.locator(".view-active")).to_have_text("Your view My failures")
    viewer.shot("saved-views-private")

    # An operator saves the endpoint's active jobs for the team; the same name again is refused, kept as typed.
    page.context.clear_cookies()
    operator = as_user("Operators", username="otto")
    page = operator.go(f"/jobs/?endpoint={endpoint.pk}&status=active")
    save_view(page, "Demo queue", team=True)
    page.wait_for_url(f"**/jobs/?endpoint={endpoint.pk}&status=active")
    expect(page.locator(".view-active")).to_have_text("Team view Demo queue")
    save_view(page, "demo QUEUE", team=True)
    expect(page.locator("#save-view-form .field-error")).to_contain_text("The team already has a view named")
    expect(page.locator("#id_view_name")).to_have_value("demo QUEUE")
    operator.shot("saved-views-name-taken")
    assert SavedView.objects.filter(owner__isnull=True).count() == 1

    # Back as the viewer: the nav lists the team's view and their own, each with its count of active jobs.
    page.context.clear_cookies()
    viewer = login_as("vera")
    page = viewer.go("/")
    menu = open_menu(page)
    team = menu.locator(".views-list a", has_text="Demo queue")
    expect(team.locator(".count")).to_have_text("3")
    expect(menu.locator(".views-list a", has_text="My failures").locator(".count")).to_have_text("0")
    viewer.shot("saved-views-menu", full_page=False)

    # A new active job shows when the menu is opened again (no timed polling).
    make_job(endpoint, status="PENDING", runpod_id=None)
    page.click(".views-menu > summary")  # close
    open_menu(page)
    expect(team.locator(".count")).to_have_text("4")

    # Opening the view: the jobs page with its filter, saying which view it is.
    team.click()
    page.wait_for_url(f"**/jobs/?endpoint={endpoint.pk}&status=active")
    expect(page.locator(".view-active")).to_have_text("Team view Demo queue")
    expect(page.locator("#job-rows tr")).to_have_count(4)
    viewer.shot("saved-views-opened")

    # The saved views page: both views, what each filters, its count; the viewer may change only their own.
    page = viewer.go("/jobs/views/")
    expect(page.locator(".views-table tbody tr")).to_have_count(2)
    expect(page.locator(".views-table button", has_text="Delete")).to_have_count(1)
    viewer.shot("saved-views-page")

    # The menu in the dark theme, and on a phone's width (the nav wraps below; the menu stays in the top row).
    page.emulate_media(color_scheme="dark")
    open_menu(page)
    viewer.shot("saved-views-menu-dark", full_page=False)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 760})
    page.reload()
    expect(open_menu(page).locator(".views-list a")).to_have_count(2)
    viewer.shot("saved-views-menu-phone", full_page=False)
