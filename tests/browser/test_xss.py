"""Hostile data renders inert in real Chromium: endpoint names, job inputs, outputs, errors, stream chunks, job
ids, usernames and audit messages that carry script payloads are shown as text, and no script of theirs runs.

Every payload tries to set window.__xss; an init script turns that into a recorded hit (kept in sessionStorage
so a hit survives navigation) and records any alert/confirm/prompt. After each page and interaction the DOM is
also audited: no inline event handler or hx-on attribute, no <script> holding the marker, no frame or <base>, and
every link, src and form action is http(s) or relative (an inline raster image is shown in the output gallery,
never linked).
"""

import base64
import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.models import SavedView
from jobs import selectors, services
from jobs.models import AuditEntry, Job, StreamChunk
from tests.browser.seed import gradient_png, make_history_job
from tests.factories import make_endpoint, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
IMG_BARE = "<img src=x onerror=window.__xss=1>"
SVG = '"><svg onload=window.__xss=1>'
SVG_TAG = "<svg onload=window.__xss=1>"
CLOSE_SCRIPT = "</script><script>window.__xss=1</script>"
QUOTE = "' onmouseover='window.__xss=1"
DQUOTE = '" onmouseover="window.__xss=1" x="'
TEXTAREA = "</textarea><img src=x onerror=window.__xss=1>"
HTMX = '<b hx-get="/" hx-trigger="load" hx-on::before-request="window.__xss=1">htmx</b>'
JS_URL = "javascript:window.__xss=1"
# No whitespace, so the track form accepts it as a job id.
HOSTILE_ID = "trk</textarea><svg/onload=window.__xss=1>'\"><img/src=x/onerror=window.__xss=1>"

ENDPOINT_NAME = "ep" + SVG + IMG_BARE + QUOTE
USERNAME = "u" + IMG_BARE
TRACEBACK = f'Traceback (most recent call last):\n  File "{CLOSE_SCRIPT}", line 1\n{SVG}\nRuntimeError: {SCRIPT}'
EVIL_SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"/>').decode()
EVIL_HTML = base64.b64encode(SCRIPT.encode()).decode()
REPORT_URL = 'https://example.com/report?q="><svg/onload=window.__xss=1>'
PICTURE_URL = "https://example.com/picture.png?x='onerror='window.__xss=1"

MARKER_TRAP = """
(() => {
  const KEY = "__xss_hits";
  let memory = [];
  const read = () => { try { return JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { return memory; } };
  const hit = (what) => {
    const hits = read().concat([what + " on " + location.pathname]);
    memory = hits;
    try { sessionStorage.setItem(KEY, JSON.stringify(hits)); } catch (e) { /* opaque origin */ }
  };
  Object.defineProperty(window, "__xss", { get: () => read().length, set: () => hit("window.__xss set") });
  window.__xssHits = read;
  for (const name of ["alert", "confirm", "prompt"]) {
    const original = window[name];
    window[name] = function (...args) { hit(name + "(" + args.join(", ") + ")"); return original.apply(this, args); };
  }
})();
"""

DOM_AUDIT = r"""
() => {
  const problems = [];
  const RASTER = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+\/=\s]+$/;
  const web = (url) => { try { return ["http:", "https:"].includes(new URL(url, location.href).protocol); }
                         catch (e) { return false; } };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
  for (const el of document.querySelectorAll("*")) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      const value = attr.value;
      if (name.startsWith("on") || name.includes("hx-on")) problems.push(`${describe(el)} has ${name}="${value}"`);
      if (["href", "xlink:href", "src", "action", "formaction", "poster", "background"].includes(name)) {
        const rasterInGallery = name === "src" && el.closest(".gallery") && RASTER.test(value);
        if (!web(value) && !rasterInGallery) problems.push(`${describe(el)} ${name}=${value.slice(0, 120)}`);
      }
    }
  }
  for (const script of document.querySelectorAll("script")) {
    if (script.textContent.includes("__xss")) problems.push("a <script> holds: " + script.textContent.slice(0, 120));
    if (script.src && new URL(script.src).origin !== location.origin) problems.push("script from " + script.src);
  }
  for (const el of document.querySelectorAll("iframe, frame, object, embed, base, meta[http-equiv]")) {
    problems.push("unexpected " + describe(el));
  }
  return problems;
}
"""


def seed_hostile(now=None):
    """An endpoint, a submitter, jobs in every shape and audit entries, each carrying script payloads."""
    now = now or timezone.now()
    user = make_user("Operators", username=USERNAME)
    endpoint = make_endpoint(name=ENDPOINT_NAME, runpod_id="xss-endpoint")
    jobs = {}
    jobs["completed"] = make_history_job(
        endpoint,
        now,
        status="COMPLETED",
        minutes_ago=9,
        user=user,
        runpod_id="xss-completed",
        input={"prompt": SCRIPT, "negative": TEXTAREA},
        has_output=True,
        output={
            "text": SCRIPT,
            "html": IMG,
            "attr": QUOTE,
            "dquote": DQUOTE,
            "close": CLOSE_SCRIPT,
            "svg": SVG,
            "htmx": HTMX,
            SCRIPT: "a payload as a key",
            "nested": {"deeper": [{"deepest": {"leaf": IMG_BARE, "close": CLOSE_SCRIPT}}]},
        },
        last_raw={"status": "COMPLETED", IMG_BARE: CLOSE_SCRIPT, "more": {"x": {"y": SVG_TAG}}},
    )
    error = {
        "error_type": SCRIPT,
        "error_message": IMG + QUOTE,
        "error_traceback": TRACEBACK,
        "hostname": DQUOTE,
        IMG_BARE: SVG_TAG,
    }
    jobs["failed"] = make_history_job(
        endpoint,
        now,
        status="FAILED",
        minutes_ago=8,
        user=user,
        runpod_id="xss-failed",
        error=error,
        error_raw=json.dumps(error),
        worker_id=SVG_TAG,
    )
    jobs["failed_raw"] = make_history_job(
        endpoint, now, status="FAILED", minutes_ago=7, runpod_id="xss-failed-raw", error_raw="not JSON: " + SCRIPT + IMG
    )
    jobs["links"] = make_history_job(
        endpoint,
        now,
        status="COMPLETED",
        minutes_ago=6,
        runpod_id="xss-links",
        has_output=True,
        output={
            "js": JS_URL,
            "js_mixed_case": "JaVaScRiPt:window.__xss=1",
            "js_leading_space": " javascript:window.__xss=1",
            "js_tab": "java\tscript:window.__xss=1",
            "vbscript": "vbscript:window.__xss=1",
            "data_html": "data:text/html," + SCRIPT,
            "data_html_base64": "data:text/html;base64," + EVIL_HTML,
            "data_svg": "data:image/svg+xml;base64," + EVIL_SVG,
            "protocol_relative": "//evil.example/x",
            "img": IMG,
            "report": REPORT_URL,
            "picture": PICTURE_URL,
            "thumbnail": f"data:image/png;base64,{gradient_png(40, 24)}",
        },
    )
    jobs["stream"] = make_history_job(
        endpoint,
        now,
        status="IN_PROGRESS",
        minutes_ago=2,
        user=user,
        runpod_id="xss-stream",
        streaming=True,
        progress={"stage": IMG},
    )
    outputs = [SCRIPT, {"token": IMG}, CLOSE_SCRIPT, [SVG], QUOTE]
    StreamChunk.objects.bulk_create(
        StreamChunk(job=jobs["stream"], seq=i, output=out, received_at=now - timedelta(seconds=30 - i))
        for i, out in enumerate(outputs)
    )
    Job.objects.filter(pk=jobs["stream"].pk).update(stream_seq=len(outputs))
    jobs["tracked"] = make_history_job(
        endpoint,
        now,
        status="IN_PROGRESS",
        minutes_ago=1,
        user=user,
        runpod_id=HOSTILE_ID,
        tracked=True,
        input={"prompt": SCRIPT, "negative": TEXTAREA, "html": IMG, CLOSE_SCRIPT: DQUOTE, "htmx": HTMX},
        webhook=REPORT_URL,
        policy={"ttl": IMG_BARE},
        progress="step 3 of 9 " + IMG + SCRIPT,
    )
    jobs["submit_failed"] = Job.objects.create(
        endpoint=endpoint,
        status="SUBMIT_FAILED",
        input={"prompt": IMG},
        submitted_by=user,
        submit_error="RunPod said: " + SCRIPT + TEXTAREA,
    )
    services.audit_record(
        action="retry", user=user, job=jobs["tracked"], outcome="error", message="RunPod said " + SCRIPT + IMG + QUOTE
    )
    entry = services.audit_record(action=SVG_TAG, user=user, endpoint=endpoint, message=CLOSE_SCRIPT + DQUOTE)
    AuditEntry.objects.filter(pk=entry.pk).update(at=now - timedelta(minutes=1))
    return {"endpoint": endpoint, "user": user, **jobs}


@pytest.fixture
def hostile(transactional_db):
    return seed_hostile()


class Watch:
    """The logged-in page, with the marker trap installed, outside requests stubbed, dialogs recorded."""

    def __init__(self, session):
        self.session = session
        self.page = session.page
        self.dialogs = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def go(self, path, name=None):
        self.session.go(path)
        self.assert_inert(path)
        if name:
            self.session.shot(f"xss-{name}")
        return self.page

    def assert_inert(self, where):
        page = self.page
        page.wait_for_load_state("load")  # the payload images have failed by then, and their onerror would have run
        assert page.evaluate("window.__xss") == 0, f"a payload ran on {where}: {page.evaluate('window.__xssHits()')}"
        assert page.evaluate(DOM_AUDIT) == [], f"hostile markup in the DOM of {where}"
        assert self.dialogs == [], f"a dialog opened on {where}: {self.dialogs}"

    def hover_each(self, selector, limit=8):
        """Hover over elements showing payloads: an attribute that broke out of its quotes would fire now."""
        items = self.page.locator(selector)
        count = min(items.count(), limit)
        assert count, f"nothing matches {selector}"
        for i in range(count):
            item = items.nth(i)
            if item.is_visible():
                item.hover()
        self.assert_inert(f"hovering {selector}")

    def expand_json(self):
        """Open every collapsed node of the JSON trees, innermost last."""
        closed = self.page.locator("details.j-node:not([open]) > summary")
        for _ in range(100):
            if not closed.count():
                break
            closed.first.click()
        assert not closed.count(), "some JSON nodes would not open"
        self.assert_inert("expanding the JSON")


@pytest.fixture
def watch(context, page, live_server, as_user, hostile):
    """An admin's page (every action button and the admin link show), trapped before any page loads."""
    context.add_init_script(MARKER_TRAP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    origin = re.escape(live_server.url)
    context.route(re.compile(rf"^(?!{origin}/)https?://"), lambda route: route.fulfill(body="outside", status=200))
    return Watch(as_user(None))


def test_overview_and_endpoint_pages_show_a_hostile_name_as_text(watch, hostile):
    """The endpoint's name is text in the overview card, the endpoint page, its table and its forms."""
    page = watch.go("/", "overview")
    expect(page.locator(".endpoint-card h2 a")).to_have_text(ENDPOINT_NAME)
    expect(page.locator(".endpoint-card")).to_have_attribute("data-endpoint", ENDPOINT_NAME)
    watch.hover_each(".endpoint-card")
    watch.hover_each(".endpoint-card h2 a")
    with page.expect_response(lambda r: "/hx/overview/" in r.url, timeout=12_000):
        pass  # the card's live refresh swaps in a freshly rendered copy
    watch.assert_inert("the overview after a refresh")
    expect(page.locator(".endpoint-card h2 a")).to_have_text(ENDPOINT_NAME)

    page = watch.go(f"/endpoints/{hostile['endpoint'].pk}/", "endpoint")
    expect(page.locator("h1")).to_have_text(ENDPOINT_NAME)
    expect(page.get_by_role("heading", name=f"Submit a job to {ENDPOINT_NAME}")).to_be_visible()
    expect(page.locator("#job-rows")).to_contain_text(HOSTILE_ID)
    watch.hover_each("h1, .crumbs span, #job-rows a")


def test_job_pages_show_hostile_inputs_outputs_and_errors_as_text(watch, hostile, live_server):
    """Output, error, traceback, input, raw status, progress and submit error: text, expanded, copied, hovered."""
    page = watch.go(f"/jobs/{hostile['completed'].pk}/", "job-output")
    output = page.locator("#job-output .json-tree")
    for text in (SCRIPT, IMG, QUOTE, DQUOTE, CLOSE_SCRIPT, SVG, HTMX):
        expect(output).to_contain_text(text)
    expect(page.locator("#job-output .gallery, #job-output .links")).to_have_count(0)
    page.locator("#job-raw > summary").click()
    watch.expand_json()
    # The nested leaves, visible once their nodes are open.
    expect(output.locator(".j-str").filter(has_text=IMG_BARE)).to_be_visible()
    expect(page.locator("#job-raw .j-str").filter(has_text=SVG_TAG)).to_be_visible()
    watch.hover_each("#job-output .j-str, #job-output .j-key, #job-input .j-str", limit=20)
    page.click("[data-copy='#copy-output']")
    expect(page.locator("[data-copy='#copy-output']")).to_have_text("Copied")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["text"] == SCRIPT and copied["html"] == IMG
    watch.assert_inert("copying the output")

    page = watch.go(f"/jobs/{hostile['failed'].pk}/", "job-failed")
    expect(page.locator(".error-type")).to_have_text(SCRIPT)
    expect(page.locator(".error-message")).to_have_text(IMG + QUOTE)
    expect(page.locator(".traceback pre")).to_have_text(TRACEBACK)
    expect(page.locator("#job-error dl.kv")).to_contain_text(DQUOTE)
    expect(page.locator("#job-error dt").filter(has_text=IMG_BARE)).to_have_count(1)
    expect(page.locator(".fact-value").filter(has_text=SVG_TAG)).to_have_count(1)  # the worker id
    expect(page.locator("#timeline")).to_contain_text(f"by {USERNAME}")
    watch.hover_each(".error-type, .error-message, .traceback pre, #job-error dd, .job-meta")

    page = watch.go(f"/jobs/{hostile['failed_raw'].pk}/")
    expect(page.locator("#job-error pre")).to_have_text("not JSON: " + SCRIPT + IMG)

    page = watch.go(f"/jobs/{hostile['submit_failed'].pk}/")
    expect(page.locator(".error-panel pre")).to_have_text("RunPod said: " + SCRIPT + TEXTAREA)
    expect(page.locator("#job-input")).to_contain_text(IMG)

    tracked = hostile["tracked"]
    page = watch.go(f"/jobs/{tracked.pk}/", "job-tracked")
    expect(page.locator("h1 .mono")).to_have_text(HOSTILE_ID)
    expect(page.locator(".crumbs .mono")).to_have_text(HOSTILE_ID)
    expect(page.locator("#job-progress p")).to_have_text("step 3 of 9 " + IMG + SCRIPT)
    expect(page.locator("#job-input")).to_contain_text(TEXTAREA)
    expect(page.locator("#job-input .panel-head")).to_contain_text(IMG_BARE)  # the policy
    expect(page.locator("[data-action=cancel]")).to_be_visible()
    expect(page.locator("form[hx-confirm]")).to_have_attribute("hx-confirm", re.compile(re.escape(HOSTILE_ID)))
    watch.expand_json()
    watch.hover_each("h1, .crumbs, #job-progress p, #job-input .j-str, #job-input .j-key", limit=20)
    page.click("h1 [data-copy]")
    expect(page.locator("h1 [data-copy]")).to_have_attribute("title", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE_ID
    with page.expect_response(lambda r: f"/jobs/{tracked.pk}/hx/live/" in r.url):
        pass  # the live part is re-rendered by the server and swapped in by htmx
    expect(page.locator("h1 .mono")).to_have_text(HOSTILE_ID)
    watch.assert_inert("the tracked job after a live refresh")


def test_stream_chunks_stay_inert_as_the_stream_refreshes(watch, hostile):
    """Stored chunks and one arriving while the page is open are text, in the list and the text view."""
    job = hostile["stream"]
    page = watch.go(f"/jobs/{job.pk}/")
    chunks = page.locator("#stream-chunks li")
    expect(chunks).to_have_count(5)
    expect(chunks.nth(0)).to_contain_text(SCRIPT)
    expect(chunks.nth(1)).to_contain_text(IMG.replace('"', '\\"'))  # compact JSON of {"token": IMG}
    expect(chunks.nth(2)).to_contain_text(CLOSE_SCRIPT)
    expect(page.locator("#job-progress")).to_contain_text(IMG)
    late = CLOSE_SCRIPT + IMG_BARE + HTMX
    StreamChunk.objects.create(job=job, seq=5, output=late)
    Job.objects.filter(pk=job.pk).update(stream_seq=6)
    expect(page.locator("#stream-chunks li[data-seq='5']")).to_contain_text(late)
    expect(page.locator("#stream-count")).to_have_text("6")
    watch.assert_inert("the stream after a chunk arrived")
    page.click("[data-stream-text]")
    page.click("[data-stream-replay]")
    expect(page.locator("#stream-chunks li.replay-hidden")).to_have_count(0)
    watch.hover_each("#stream-chunks .chunk-out")
    watch.session.shot("xss-stream")


def test_output_links_are_http_only_and_clicking_them_runs_nothing(watch, hostile, context, settings):
    """javascript:, vbscript:, data:text/html and data:image/svg+xml never become links or images."""
    settings.OUTPUT_REMOTE_IMAGES = True  # the outside picture is an <img> too, so its onerror is tried
    page = watch.go(f"/jobs/{hostile['links'].pk}/", "job-links")
    links = page.locator("#job-output .links a")
    expect(links).to_have_count(1)
    expect(links).to_have_text(REPORT_URL)
    expect(links).to_have_attribute("href", REPORT_URL)
    images = page.locator("#job-output .gallery img")
    expect(images).to_have_count(2)
    expect(images.nth(0)).to_have_attribute("src", PICTURE_URL)
    expect(images.nth(1)).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    tree = page.locator("#job-output .json-tree")
    for text in (JS_URL, "data:text/html," + SCRIPT, IMG, "data:image/svg+xml;base64," + EVIL_SVG[:40]):
        expect(tree).to_contain_text(text)
    # Both images have loaded or failed (the outside one is a stub, not an image): any onerror would have run.
    page.wait_for_function("() => [...document.querySelectorAll('.gallery img')].every(img => img.complete)")
    # The outside picture is a stub, not an image: it is shown as a link saying so, whenever it failed.
    expect(images.nth(0)).to_have_class(re.compile(r"\bbroken\b"))
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    assert not [h for h in hrefs if not h.startswith(("http://", "https://"))]
    # An inline picture is shown, not linked: output links are http(s) only.
    expect(page.locator("#job-output .gallery a")).to_have_count(1)
    watch.hover_each("#job-output .links a, #job-output .gallery a")
    with context.expect_page() as opened:
        links.first.click()
    popup = opened.value
    popup.wait_for_load_state()
    assert popup.url.startswith("https://example.com/report?")
    popup.close()
    with context.expect_page() as opened:
        page.locator("#job-output .gallery a").first.click()
    opened.value.close()
    watch.assert_inert("clicking the output's links")


def test_jobs_list_and_search_show_hostile_text_inertly(watch, hostile):
    """Rows, their live refresh, a text search and an id search for payloads: all text."""
    page = watch.go("/jobs/", "jobs")
    expect(page.locator("#job-rows tr")).to_have_count(7)
    tracked_row = page.locator(f"#job-{hostile['tracked'].pk}")
    expect(tracked_row.locator("a.mono")).to_have_text(HOSTILE_ID)
    expect(tracked_row.locator(".c-endpoint")).to_have_text(ENDPOINT_NAME)
    expect(tracked_row.locator(".c-user")).to_have_text(USERNAME)
    # SQLite keeps the input's key order and PostgreSQL's jsonb puts short keys first: either payload leads.
    expect(tracked_row.locator(".preview")).to_contain_text(re.compile(r"<(script>|img src=x )"))
    expect(page.locator("#id_endpoint option").filter(has_text=ENDPOINT_NAME)).to_have_count(1)
    expect(page.locator("#id_by option").filter(has_text=USERNAME)).to_have_count(1)
    watch.hover_each("#job-rows a, #job-rows .preview, #job-rows .c-user", limit=12)
    with page.expect_response(lambda r: "/jobs/hx/rows/" in r.url, timeout=8_000):
        pass  # the active rows are re-rendered and swapped in out of band
    watch.assert_inert("the jobs list after a row refresh")
    expect(tracked_row.locator("a.mono")).to_have_text(HOSTILE_ID)

    page.fill("#id_q", SCRIPT)
    expect(page.locator("#results .note")).to_contain_text(f"Jobs whose input, output or error contains “{SCRIPT}”")
    expect(page).to_have_url(re.compile(r"q=%3Cscript%3E"))
    # Every job holding the payload in its input, output or error: more than the two with it in their input.
    found = selectors.job_text_filter(Job.objects.all(), SCRIPT).count()
    assert found > 2
    expect(page.locator("#job-rows tr")).to_have_count(found)
    watch.assert_inert("a search for a <script> payload")
    watch.session.shot("xss-jobs-search")

    page = watch.go("/jobs/?q=" + quote(IMG))
    expect(page.locator("#id_q")).to_have_value(IMG)
    expect(page.locator("#results .note")).to_contain_text(IMG)
    # The tracked job and the one whose submit failed (inputs), and those with it in an output or error.
    expect(page.locator("#job-rows tr")).to_have_count(selectors.job_text_filter(Job.objects.all(), IMG).count())
    page = watch.go("/jobs/?q=" + quote(HOSTILE_ID))
    expect(page.locator("#results .note")).to_contain_text(f"Job id {HOSTILE_ID}")
    expect(page.locator("#job-rows tr")).to_have_count(1)


def test_audit_log_shows_hostile_entries_as_text(watch, hostile):
    """Messages, usernames, actions and the endpoint an entry is about are text, filters included."""
    page = watch.go("/audit/", "audit")
    expect(page.locator(".c-message").filter(has_text="RunPod said " + SCRIPT + IMG + QUOTE)).to_have_count(1)
    expect(page.locator(".c-message").filter(has_text=CLOSE_SCRIPT + DQUOTE)).to_have_count(1)
    expect(page.locator(".audit-table td").filter(has_text=USERNAME)).to_have_count(2)
    expect(page.locator(".audit-table .tag").filter(has_text=SVG_TAG)).to_have_count(1)
    expect(page.locator(".audit-table a").filter(has_text=HOSTILE_ID)).to_have_count(1)
    expect(page.locator(".audit-table a").filter(has_text=ENDPOINT_NAME)).to_have_count(1)
    watch.hover_each(".audit-table td", limit=14)
    expect(page.locator("select[name=user] option").filter(has_text=USERNAME)).to_have_count(1)
    page.select_option("select[name=user]", USERNAME)
    expect(page).to_have_url(re.compile(r"user=u%3Cimg"))
    expect(page.locator(".audit-table tbody tr")).to_have_count(2)
    page.select_option("select[name=endpoint]", str(hostile["endpoint"].pk))
    page.select_option("select[name=outcome]", "error")
    expect(page.locator(".audit-table tbody tr")).to_have_count(1)
    watch.assert_inert("the audit log filtered by a hostile user and endpoint")


def test_forms_redisplay_refused_hostile_text_as_typed(watch, hostile):
    """Bad JSON, a wrong purge confirmation and a refused job id come back as typed, and run nothing."""
    page = watch.go("/jobs/new/")
    typed = '{"prompt": "' + SCRIPT + TEXTAREA + '",,}'
    page.fill("#id_input", typed)
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-form .field-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#id_input")).to_have_value(typed)
    watch.assert_inert("the submit form with bad JSON")
    watch.session.shot("xss-submit")

    page.fill("#id_runpod_id", "two words " + SCRIPT)
    page.click("#track-form button[type=submit]")
    expect(page.locator("#track-form .field-error")).to_contain_text("single word")
    expect(page.locator("#id_runpod_id")).to_have_value("two words " + SCRIPT)
    watch.assert_inert("the track form with a refused id")

    hostile_id = "x" + TEXTAREA.replace(" ", "/")
    page.fill("#id_runpod_id", hostile_id)
    page.click("#track-form button[type=submit]")
    expect(page.locator("h1 .mono")).to_have_text(hostile_id)
    watch.assert_inert("the page of a job tracked by a hostile id")

    page = watch.go(f"/endpoints/{hostile['endpoint'].pk}/purge/")
    expect(page.locator("h1")).to_have_text(f"Purge the queue of {ENDPOINT_NAME}")
    confirm = page.locator("#id_confirm")
    expect(confirm).to_have_attribute("data-confirm-match", ENDPOINT_NAME)
    confirm.fill(ENDPOINT_NAME)  # wakes the button; the server then gets a wrong name
    confirm.evaluate("(input, value) => { input.value = value; }", TEXTAREA + SCRIPT)
    page.click("#purge-panel button[type=submit]")
    expect(page.locator("#purge-panel .field-error")).to_have_text(f"Type {ENDPOINT_NAME} exactly to purge its queue.")
    expect(page.locator("#id_confirm")).to_have_value(TEXTAREA + SCRIPT)
    watch.assert_inert("the purge form with a wrong confirmation")


def test_admin_pages_show_hostile_rows_as_text(watch, hostile):
    """Django's admin lists and a job's change page escape the same rows."""
    page = watch.go("/admin/jobs/endpoint/")
    expect(page.locator("#result_list")).to_contain_text(ENDPOINT_NAME)
    page = watch.go("/admin/jobs/job/")
    expect(page.locator("#result_list")).to_contain_text(HOSTILE_ID)
    page = watch.go(f"/admin/jobs/job/{hostile['failed'].pk}/change/", "admin-job")
    expect(page.locator("#id_error_raw")).to_have_value(hostile["failed"].error_raw)
    page = watch.go("/admin/jobs/auditentry/")
    expect(page.locator("#result_list")).to_contain_text(CLOSE_SCRIPT + DQUOTE)


def test_a_saved_view_with_a_hostile_name_and_filter_is_text_everywhere(watch, hostile):
    """A team view's name and filter carrying payloads: text in the Views menu, on the jobs page and the views page."""
    name = "v" + SVG + QUOTE  # within the 60 characters a name may have (PostgreSQL enforces the column's length)
    view = SavedView.objects.create(name=name, filters={"by": USERNAME, "q": SCRIPT})
    page = watch.go("/", None)
    page.click(".views-menu > summary")
    expect(page.locator(".views-list a").filter(has_text=name)).to_have_count(1)  # fetched again on opening
    watch.hover_each(".views-list a")
    page.locator(".views-list a").filter(has_text=name).click()
    page.wait_for_load_state("load")
    watch.assert_inert("the jobs page of a hostile view")
    expect(page.locator(".view-active b")).to_have_text(name)
    page = watch.go("/jobs/views/", "saved-views")
    expect(page.locator(f"#view-{view.pk} td").first).to_have_text(name)
    expect(page.locator(f"#view-{view.pk} .filter-part")).to_have_text([f"search {SCRIPT}", f"by {USERNAME}"])
    watch.hover_each(f"#view-{view.pk} td")


def test_compare_and_edit_and_run_show_hostile_values_as_text(watch, hostile):
    """The diff's paths and values, both jobs in full and the edit form's filled-in input stay text."""
    completed = hostile["completed"]
    plain = Job.objects.create(
        endpoint=hostile["endpoint"], status="COMPLETED", input={"prompt": "plain"}, has_output=True, output={}
    )
    page = watch.go(f"/jobs/compare/?job={completed.pk}&job={plain.pk}", "compare")
    expect(page.locator("#compare-input .diff-table")).to_contain_text(SCRIPT)
    expect(page.locator("#compare-output .diff-table")).to_contain_text(f'["{SCRIPT}"]')  # a payload as a key's path
    for part in ("input", "output"):
        page.locator(f"#compare-{part} .side-by-side > summary").click()
    watch.expand_json()
    watch.hover_each("#compare-input td, #compare-output td, #compare-summary td", limit=30)

    page = watch.go(f"/jobs/new/?from={completed.pk}", "edit-and-run")
    expect(page.locator("#id_input")).to_have_value(re.compile(re.escape(SCRIPT)))
    expect(page.locator("#edited-job")).to_contain_text(SCRIPT)
    watch.assert_inert("the edit and run form")
