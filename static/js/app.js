/* The dashboard's few behaviours: live/paused polling, theme, relative times, countdowns, copy, stream view,
   JSON checking in the submit form. No dependencies besides htmx; nothing loads from a CDN. */
(function () {
  "use strict";

  var LIVE_KEY = "rpd-live";
  var THEME_KEY = "rpd-theme";

  function store(key, value) {
    try { if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { /* ignore */ }
  }
  function stored(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  /* ---- Live polling: a polling element carries data-live; its timed requests wait while paused or hidden.
     (Not an hx-trigger filter: those are evaluated code, which the Content-Security-Policy forbids.) ---- */
  window.rpdLive = function () {
    return document.visibilityState === "visible" && stored(LIVE_KEY) !== "off";
  };

  function resume() {
    if (window.rpdLive() && window.htmx) htmx.trigger(document.body, "rpd:resume");
  }

  function renderLive() {
    var button = document.getElementById("live-toggle");
    if (!button) return;
    var polling = document.querySelector("[data-live]");
    var on = stored(LIVE_KEY) !== "off";
    var interval = button.dataset.interval;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.classList.toggle("static", !polling);
    var label = button.querySelector(".label");
    if (!polling) label.textContent = on ? "Up to date" : "Paused";
    else label.textContent = on ? "Live" + (interval ? " · every " + interval + " s" : "") : "Paused";
    button.title = on ? "Live: this page refreshes itself while the tab is visible. Click to pause."
                      : "Paused: click to refresh live again.";
  }

  /* ---- Theme: auto → light → dark ---- */
  function renderTheme() {
    var theme = stored(THEME_KEY) || "auto";
    document.documentElement.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) button.title = "Theme: " + (theme === "auto" ? "follows the system" : theme) + " (click to change)";
  }

  /* ---- Relative times, kept current ---- */
  function relative(date) {
    var seconds = (Date.now() - date.getTime()) / 1000;
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 5) return "just now";
    var units = [[60, 1, "s"], [3600, 60, "min"], [86400, 3600, "h"], [86400 * 30, 86400, "d"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds < units[i][0]) {
        var text = Math.floor(seconds / units[i][1]) + " " + units[i][2];
        return future ? "in " + text : text + " ago";
      }
    }
    return null;
  }
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[data-rel]").forEach(function (el) {
      var text = relative(new Date(el.getAttribute("datetime")));
      if (text) el.textContent = text;
    });
  }

  /* ---- Countdowns to when RunPod drops a result ---- */
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function tickCountdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.countdown) - Date.now()) / 1000);
      if (isNaN(left)) return;
      if (left <= 0) {
        el.textContent = el.dataset.done;
        el.removeAttribute("data-countdown");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var box = el.querySelector(".countdown");
      if (box) box.textContent = h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
    });
  }

  /* ---- Copy buttons: from a hidden textarea, or fetched from a download URL ---- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  function flashButton(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    if (button.querySelector("svg")) button.title = text; else button.textContent = text;
    setTimeout(function () { if (!button.querySelector("svg")) button.textContent = original; }, 1500);
  }
  function onCopy(button) {
    var source = button.dataset.copy ? document.querySelector(button.dataset.copy) : null;
    var pending = source ? Promise.resolve(source.value)
      : fetch(button.dataset.copyUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); });
    pending.then(copyText).then(function () { flashButton(button, "Copied"); },
                                function () { flashButton(button, "Copy failed"); });
  }

  /* ---- Stream panel: plain-text view and replay of stored chunks ---- */
  function onStreamText(button) {
    var list = document.getElementById("stream-chunks");
    var on = list.classList.toggle("as-text");
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }
  function onReplay() {
    var items = Array.prototype.slice.call(document.querySelectorAll("#stream-chunks li"));
    if (!items.length) return;
    items.forEach(function (li) { li.classList.add("replay-hidden"); });
    var times = items.map(function (li) { return Date.parse(li.dataset.at) || 0; });
    // The original gaps between chunks, each capped so a long stream replays in seconds, not minutes.
    var delay = 0;
    items.forEach(function (li, i) {
      var gap = i ? Math.min(Math.max(times[i] - times[i - 1], 30), 600) : 0;
      delay += gap;
      setTimeout(function () { li.classList.remove("replay-hidden"); }, delay);
    });
  }

  /* ---- Submit form: say whether the JSON parses, and refuse an oversize body before sending it ---- */
  function checkJson(area) {
    var status = area.form && area.form.querySelector("[data-json-status]");
    if (!status) return true;
    try {
      var value = JSON.parse(area.value);
      var isObject = value !== null && typeof value === "object" && !Array.isArray(value);
      status.textContent = isObject ? "Valid JSON object" : "Must be a JSON object";
      status.className = "json-status small " + (isObject ? "ok" : "bad");
    } catch (e) {
      status.textContent = "Not valid JSON yet";
      status.className = "json-status small bad";
    }
    return true;
  }
  function tooBig(form) {
    var area = form.querySelector("[data-json-input]");
    var limit = parseInt(form.dataset.maxBytes || "0", 10);
    if (!area || !limit) return false;
    var bytes = new Blob([area.value]).size;
    if (bytes <= limit) return false;
    var errors = form.querySelector("#submit-errors");
    errors.innerHTML = "";
    var alert = document.createElement("div");
    alert.className = "alert error";
    alert.textContent = "The input is " + (bytes / 1048576).toFixed(1) + " MB; RunPod accepts at most 10 MB for /run and 20 MB for /runsync.";
    errors.appendChild(alert);
    return true;
  }

  /* ---- Compare: ticked rows stay ticked when the live refresh redraws them, and the button says how many are
     ticked (the form works without this: the server asks for exactly two) ---- */
  var picked = {};
  function pickBoxes() { return document.querySelectorAll("input[data-compare-pick]"); }
  function renderPicks() {
    var boxes = pickBoxes(), count = 0;
    picked = {};
    boxes.forEach(function (box) { if (box.checked) { picked[box.value] = true; count++; } });
    var button = document.querySelector("[data-compare-button]");
    var status = document.querySelector("[data-compare-status]");
    if (button) button.disabled = count !== 2;
    if (status) status.textContent = count === 2 ? "2 jobs ticked" : count > 2 ? count + " ticked: compare takes two" : "Tick two rows to compare them";
  }
  function restorePicks() {
    pickBoxes().forEach(function (box) { if (picked[box.value]) box.checked = true; });
    renderPicks();
  }

  /* ---- Wiring ---- */
  document.addEventListener("click", function (event) {
    var target = event.target.closest("button, a");
    if (!target) return;
    if (target.id === "live-toggle") {
      store(LIVE_KEY, stored(LIVE_KEY) === "off" ? null : "off");
      renderLive();
      resume();
    } else if (target.id === "theme-toggle") {
      var order = ["auto", "light", "dark"];
      var next = order[(order.indexOf(stored(THEME_KEY) || "auto") + 1) % order.length];
      store(THEME_KEY, next === "auto" ? null : next);
      renderTheme();
    } else if (target.matches("[data-copy], [data-copy-url]")) {
      onCopy(target);
    } else if (target.matches("[data-stream-text]")) {
      onStreamText(target);
    } else if (target.matches("[data-stream-replay]")) {
      onReplay();
    }
  });

  /* ---- Purge: the button wakes up once the endpoint's name is typed (the server checks it again) ---- */
  function checkConfirm(input) {
    var button = input.form && input.form.querySelector("button[type=submit]");
    if (button) button.disabled = input.value.trim() !== input.dataset.confirmMatch;
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches("[data-json-input]")) checkJson(event.target);
    if (event.target.matches("[data-confirm-match]")) checkConfirm(event.target);
  });
  // An output image that does not load is shown as a link instead of a broken icon.
  document.addEventListener("error", function (event) {
    if (event.target.tagName === "IMG" && event.target.closest(".gallery")) event.target.classList.add("broken");
  }, true);
  // An image can fail before this script runs (it is deferred), and then no error event is left to hear.
  function markFailedImages(root) {
    root.querySelectorAll(".gallery img").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) img.classList.add("broken");
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-compare-pick]")) renderPicks();
    if (event.target.name === "range") {
      var custom = document.querySelector(".custom-range");
      if (custom) custom.hidden = event.target.value !== "custom";
    }
  });

  document.addEventListener("visibilitychange", function () {
    renderLive();
    if (document.visibilityState === "visible") { refreshTimes(); resume(); }
  });
  window.addEventListener("storage", function (event) {
    if (event.key === LIVE_KEY) { renderLive(); resume(); }
    if (event.key === THEME_KEY) renderTheme();
  });

  document.addEventListener("DOMContentLoaded", function () {
    renderTheme();
    renderLive();
    document.querySelectorAll("[data-json-input]").forEach(checkJson);
    document.querySelectorAll("[data-confirm-match]").forEach(checkConfirm);
    markFailedImages(document);
    renderPicks();
    setInterval(function () { refreshTimes(); }, 15000);
    setInterval(tickCountdowns, 1000);
    tickCountdowns();
  });

  if (!window.htmx) return;

  // Responses htmx should swap although they are not 2xx: form errors (422), refusals (403, 409, 413) and
  // RunPod failures (502) all carry a readable fragment.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "304", swap: false },
    { code: "[23]..", swap: true },
    { code: "(403|409|413|422|429|502)", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];
  htmx.config.historyCacheSize = 5;

  // A live region that remembers what it shows (data-etag) asks "anything new?" with If-None-Match: the server
  // answers 304 with no body when nothing changed, else the changed parts and the new ETag.
  document.body.addEventListener("htmx:configRequest", function (event) {
    var etag = event.detail.elt.dataset && event.detail.elt.dataset.etag;
    if (etag) event.detail.headers["If-None-Match"] = etag;
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt, xhr = event.detail.xhr;
    if (!elt.dataset || !elt.dataset.etag || !xhr || !elt.isConnected) return;
    var etag = xhr.getResponseHeader("ETag");
    if (etag && (xhr.status === 200 || xhr.status === 304)) elt.dataset.etag = etag;
  });
  // The overview's search, sort and view controls without a reload; the Apply button is for pages without JS.
  var controls = document.getElementById("overview-controls");
  if (controls) controls.classList.add("js");

  // A timed refresh of a live region is skipped while paused or hidden; rpd:resume (and clicks) still go through.
  document.body.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    if (event.detail.elt.hasAttribute("data-live") && !window.rpdLive() && !(trigger && trigger.type === "rpd:resume")) {
      event.preventDefault();
    }
  });
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form.id === "submit-form" && tooBig(form)) event.preventDefault();
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    // The session ended: the answer is the login page, which belongs in the whole window.
    var url = event.detail.xhr && event.detail.xhr.responseURL;
    if (url && url.indexOf("/login/") !== -1) window.location.reload();
  });
  // A menu that fetches fresh content each time it opens (the saved views' counts), rather than on a timer.
  // "toggle" does not bubble, so it is caught on the way down.
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (menu.open && menu.matches && menu.matches("details[data-refresh-open]")) htmx.trigger(menu, "rpd:open");
  }, true);
  // An open menu closes on a click elsewhere, as menus do.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.views-menu[open], details.save-view[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.body.addEventListener("htmx:sendError", function () {
    var conn = document.getElementById("conn");
    if (conn) conn.hidden = false;
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var conn = document.getElementById("conn");
    if (conn && event.detail.successful !== undefined && event.detail.xhr && event.detail.xhr.status) conn.hidden = true;
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    restorePicks();
    refreshTimes(event.target);
    tickCountdowns();
    renderLive();
    if (!event.target.querySelectorAll) return;
    event.target.querySelectorAll("[data-json-input]").forEach(checkJson);
    event.target.querySelectorAll("[data-confirm-match]").forEach(checkConfirm);
  });
})();
