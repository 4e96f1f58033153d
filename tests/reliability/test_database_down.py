"""With the database unreachable, every page and partial answers a plain 503 page, never a traceback or a 500."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client

from .routes import GETS, World

pytestmark = pytest.mark.django_db

OUTAGES = {
    "refused": OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused'),
    "dropped": InterfaceError("connection already closed"),
}


@pytest.fixture
def world():
    return World.make()


def get_during_outage(client, url, error, **headers):
    with mock.patch.object(BaseDatabaseWrapper, "ensure_connection", side_effect=error):
        return client.get(url, **headers)


@pytest.mark.parametrize("route", GETS, ids=lambda r: r.name)
@pytest.mark.parametrize("outage", OUTAGES, ids=list(OUTAGES))
def test_every_page_says_the_database_is_unreachable(viewer, world, route, outage):
    """Each page (its session lookup included) answers 503 with a readable page and no traceback."""
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    response = get_during_outage(client, world.url(route), OUTAGES[outage])
    body = response.content.decode()
    assert response.status_code == 503
    assert "database" in body.lower()
    assert "Traceback" not in body and "OperationalError" not in body and "5432" not in body
    assert response["Retry-After"]


def test_an_htmx_refresh_during_an_outage_gets_the_503_too(viewer, world):
    """The live partials get the same status, so htmx leaves the page as it was rather than swapping in junk."""
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    response = get_during_outage(client, "/hx/overview/", OUTAGES["refused"], HTTP_HX_REQUEST="true")
    assert response.status_code == 503


def test_other_server_errors_stay_500s(viewer, world):
    """Only an unreachable database is a 503; a bug remains a plain 500 page."""
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    with mock.patch("jobs.selectors.overview_rows", side_effect=RuntimeError("a bug")):
        response = client.get("/")
    assert response.status_code == 500
    assert "a bug" not in response.content.decode()


def test_pages_work_again_once_the_database_is_back(viewer, world):
    """Nothing sticks after the outage: the next request is served normally."""
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    assert get_during_outage(client, "/", OUTAGES["dropped"]).status_code == 503
    assert client.get("/").status_code == 200
