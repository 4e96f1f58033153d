"""The Alerts and Failures pages in real Chromium: acknowledge, silence, filter; screenshots kept."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Alert, Channel
from alerts.services import poll_heartbeat
from alerts.services.feed import transitions_read
from tests.alerts.conftest import finished
from tests.factories import make_endpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alerts_seed(transactional_db):
    """Two firing alerts, a resolved one, a failing channel and failures in three error groups."""
    poll_heartbeat()
    gpu, cpu = make_endpoint(name="sdxl-gpu"), make_endpoint(name="whisper-cpu")
    stuck = Alert.objects.create(
        kind="stuck_queue",
        endpoint=gpu,
        key=f"stuck_queue:{gpu.pk}",
        summary="sdxl-gpu: 14 job(s) queued, the oldest for 312 s. Every worker is unhealthy (3 unhealthy, none "
        "running): check the worker logs and image.",
        evidence={"cause": "unhealthy", "queued": 14, "links": [f"/endpoints/{gpu.pk}/"]},
    )
    burst = Alert.objects.create(
        kind="failure_rate",
        endpoint=cpu,
        key=f"failure_rate:{cpu.pk}",
        summary="whisper-cpu: 9 of 12 jobs failed or timed out in 10 min (75 %). Most common error (8x): "
        "RuntimeError: CUDA error: out of memory at <hex>",
        evidence={"failed": 9, "finished": 12},
    )
    Alert.objects.create(
        kind="runaway",
        endpoint=gpu,
        key="old",
        state="resolved",
        resolved_at=timezone.now(),
        summary="sdxl-gpu: 1 job(s) still IN_PROGRESS past their executionTimeout.",
    )
    Channel.objects.create(
        name="ops-slack",
        kind=Channel.Kind.SLACK,
        url="https://hooks.slack.com/services/T/B/x",
        consecutive_failures=3,
        last_error="the receiver answered 500",
        last_error_at=timezone.now(),
    )
    for i in range(6):
        finished(
            cpu, status="FAILED", error_raw=f'{{"error_type": "RuntimeError", "error_message": "CUDA OOM at {i}"}}'
        )
    for i in range(2):
        finished(gpu, status="FAILED", error_raw=f"cannot open /data/in/{i}.png")
    finished(gpu, status="TIMED_OUT")
    transitions_read()
    return {"stuck": stuck, "burst": burst}


def test_operator_acknowledges_silences_and_filters_alerts(as_user, alerts_seed):
    """The firing alerts show their sentences; acknowledge and silence work from the page; history filters."""
    session = as_user("Operators")
    page = session.go("/alerts/")
    expect(page.locator(".mainnav .alert-badge")).to_have_text("2 alerts")
    expect(page.locator(".channel-failing").first).to_contain_text("ops-slack")
    stuck = page.locator(f"#alerts-live [data-alert='{alerts_seed['stuck'].pk}']")
    expect(stuck).to_contain_text("Every worker is unhealthy")
    session.shot("alerts")

    stuck.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#flash")).to_contain_text("Acknowledged")
    expect(page.locator(f"#alerts-live [data-alert='{alerts_seed['stuck'].pk}']")).to_contain_text(
        "acknowledged by operators-"
    )

    burst = page.locator(f"#alerts-live [data-alert='{alerts_seed['burst'].pk}']")
    burst.locator("input[name=minutes]").fill("45")
    burst.locator("input[name=reason]").fill("known bad model version, rollback under way")
    burst.get_by_role("button", name="Silence").click()
    expect(page.locator("#flash")).to_contain_text("Silenced for 45 min")
    expect(page.locator(f"#alerts-live [data-alert='{alerts_seed['burst'].pk}']")).to_contain_text("silenced")
    expect(page.locator("#silences-title")).to_be_visible()
    session.shot("alerts-acted")

    page.select_option("#id_state", "resolved")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#history .alert-item")).to_have_count(1)
    expect(page.locator("#history")).to_contain_text("past their executionTimeout")


def test_failures_page_groups_errors_and_links_to_their_jobs(as_user, alerts_seed):
    """Groups by masked message, most frequent first; the window filter and the jobs list filter work."""
    session = as_user("Viewers")
    page = session.go("/alerts/failures/")
    rows = page.locator(".failures-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("RuntimeError: CUDA OOM at <n>")
    expect(rows.first.locator("td.num")).to_have_text("6")
    expect(rows.nth(1)).to_contain_text("FAILED: cannot open <path>")
    session.shot("failures")

    page.select_option("#id_endpoint", label="sdxl-gpu")
    expect(rows).to_have_count(2)
    rows.first.locator("a.group-title").click()
    expect(page.locator("body")).to_contain_text("error group")
    expect(page.locator("tr[id^=job-]")).to_have_count(2)
    session.shot("failures-jobs")
