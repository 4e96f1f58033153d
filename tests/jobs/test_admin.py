"""The admin: a stored API key never follows its endpoint to another host, and every endpoint and job change an
admin makes is in the audit log (keys never by value)."""

import pytest
from django.forms import MultiWidget

from jobs.models import AuditEntry, Endpoint
from tests.factories import make_endpoint, make_job
from tests.reliability.test_access import endpoint_form

pytestmark = pytest.mark.django_db

KEY = "rpa_STORED_KEY_77"


def change_url(endpoint) -> str:
    return f"/admin/jobs/endpoint/{endpoint.pk}/change/"


def resubmitted(form) -> dict:
    """The POST body a browser would send back for an unchanged admin form (split date/time widgets included)."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            data.update({f"{name}_{i}": part for i, part in enumerate(field.widget.decompress(value)) if part})
        elif value is not None and value is not False:
            data[name] = value
    return data


def form_for(endpoint, **fields) -> dict:
    return endpoint_form(name=endpoint.name, runpod_id=endpoint.runpod_id, api_key="", **fields)


@pytest.mark.parametrize(
    "new_url",
    ["https://attacker.example/v2", "http://api.runpod.ai/v2", "https://api.runpod.ai:8443/v2"],
    ids=["host", "scheme", "port"],
)
def test_moving_an_endpoint_to_another_origin_needs_the_key_again(as_admin, new_url):
    """A new host, scheme or port with the key field left empty is refused: the stored key stays where it was."""
    endpoint = make_endpoint(base_url="https://api.runpod.ai/v2", api_key=KEY)
    response = as_admin.post(change_url(endpoint), form_for(endpoint, base_url=new_url))
    assert response.status_code == 200
    assert "enter the API key again" in str(response.context["adminform"].form.errors["api_key"])
    assert Endpoint.objects.get(pk=endpoint.pk).base_url == "https://api.runpod.ai/v2"


def test_a_new_path_on_the_same_origin_keeps_the_key_and_is_audited(as_admin):
    """Same scheme, host and port: the key may stay; the change is audited with old and new URL."""
    endpoint = make_endpoint(base_url="https://api.runpod.ai/v2", api_key=KEY)
    response = as_admin.post(change_url(endpoint), form_for(endpoint, base_url="https://api.runpod.ai/v3"))
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="endpoint_change")
    assert entry.detail["changes"]["base_url"] == {"from": "https://api.runpod.ai/v2", "to": "https://api.runpod.ai/v3"}
    assert entry.username == "admin" and entry.endpoint_id == endpoint.pk


def test_a_move_with_the_key_entered_again_is_saved_and_audited_without_the_key(as_admin):
    """With the key typed again the move is saved; the audit says the key was replaced, never what it is."""
    endpoint = make_endpoint(base_url="https://api.runpod.ai/v2", api_key=KEY)
    data = {**form_for(endpoint, base_url="https://other.example/v2"), "api_key": "rpa_NEW_KEY_88"}
    assert as_admin.post(change_url(endpoint), data).status_code == 302
    entry = AuditEntry.objects.get(action="endpoint_change")
    assert entry.detail["changes"]["api_key"] == "replaced"
    assert "rpa_NEW_KEY_88" not in str(entry.detail) + entry.message and KEY not in str(entry.detail)


def test_creating_an_endpoint_and_changing_its_limits_are_audited(as_admin):
    """Creation, then a change of a rate limit, each leave an entry with what changed."""
    assert as_admin.post("/admin/jobs/endpoint/add/", endpoint_form()).status_code == 302
    endpoint = Endpoint.objects.get()
    created = AuditEntry.objects.get(action="endpoint_create")
    assert created.endpoint_id == endpoint.pk and "rpa_NEWKEY_1" not in str(created.detail)
    as_admin.post(change_url(endpoint), form_for(endpoint, status_rate_per_10s="5000"))
    changed = AuditEntry.objects.get(action="endpoint_change")
    assert changed.detail["changes"] == {"status_rate_per_10s": {"from": 2000, "to": 5000}}


def test_an_admin_edit_of_a_job_is_audited(as_admin):
    """Changing a job in the admin records which fields changed, from what to what."""
    job = make_job(status="IN_QUEUE")
    page = as_admin.get(f"/admin/jobs/job/{job.pk}/change/")
    data = resubmitted(page.context["adminform"].form)
    data["error_raw"] = "edited by hand"
    response = as_admin.post(f"/admin/jobs/job/{job.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditEntry.objects.get(action="job_admin_edit")
    assert entry.job_id == job.pk and entry.detail["changes"]["error_raw"]["to"] == "edited by hand"


def test_an_admin_price_change_is_audited_and_offers_presets(as_admin):
    """The endpoint form lists the price presets; a typed price is saved and audited as plain digits, a bad one
    is refused beside the field."""
    endpoint = make_endpoint(base_url="https://api.runpod.ai/v2", api_key=KEY)
    page = as_admin.get(change_url(endpoint)).content.decode()
    assert 'list="price-presets"' in page and '<option value="0.00116">80 GB PRO (H100)</option>' in page
    response = as_admin.post(change_url(endpoint), form_for(endpoint, price_per_second="0.0001x"))
    assert "Type a price" in str(response.context["adminform"].form.errors["price_per_second"])
    assert as_admin.post(change_url(endpoint), form_for(endpoint, price_per_second="$0.00116")).status_code == 302
    entry = AuditEntry.objects.get(action="endpoint_change")
    assert entry.detail["changes"] == {"price_per_second": {"from": None, "to": "0.00116"}}
    assert str(Endpoint.objects.get(pk=endpoint.pk).price_per_second) == "0.00116000"
    assert "$0.00116/s" in as_admin.get("/admin/jobs/endpoint/").content.decode()
