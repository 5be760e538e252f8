// vitals: drives the dashboard's refresh. htmx fetches the fragments; this
// file decides when (every data-poll-seconds, never while the tab is hidden,
// at once when it comes back or on the Refresh button), shows how old the
// figures are, loads event details on demand and tells screen readers what
// changed. No inline script or style anywhere: the CSP forbids both.
(function () {
  "use strict";
  var body = document.body;
  if (!window.htmx || !body.hasAttribute("data-poll-seconds")) return;
  var every = (parseInt(body.getAttribute("data-poll-seconds"), 10) || 30) * 1000;
  var updated = document.getElementById("updated");
  var live = document.getElementById("announce");
  var lastOK = Date.now();
  var timer = 0;
  var manual = false;
  var states = cardStates();

  function poll() {
    htmx.trigger(body, "vitals:poll");
    schedule();
  }
  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(poll, every);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) clearTimeout(timer);
    else poll();
  });
  document.getElementById("refresh").addEventListener("click", function () {
    manual = true;
    poll();
  });

  // lostAt is when a poll first failed since the last success; while it
  // is set the page says so and dims every figure (DESIGN.md, "Status").
  var lostAt = 0;
  function hhmm(d) {
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  function lost() {
    if (!lostAt) lostAt = Date.now();
    body.classList.add("lost");
    document.title = (updated.getAttribute("data-lost") || "").replace("{t}", hhmm(new Date(lostAt))) + " · vitals";
    showAge();
  }
  function found() {
    if (!lostAt) return;
    lostAt = 0;
    body.classList.remove("lost");
  }
  // A hung vitals must not leave the poll waiting forever: a poll that has
  // not answered within half an interval counts as failed.
  htmx.config.timeout = Math.max(2000, Math.min(every / 2, 10000));
  function showAge() {
    if (!updated || document.hidden) return;
    if (lostAt) {
      updated.textContent = updated.getAttribute("data-lost").replace("{t}", hhmm(new Date(lostAt)));
      updated.classList.add("lost");
      return;
    }
    updated.classList.remove("lost");
    var s = Math.max(0, Math.round((Date.now() - lastOK) / 1000));
    updated.textContent = updated.getAttribute("data-tpl").replace("{n}", s);
    updated.classList.toggle("stale", s * 1000 > every * 2 + 5000);
  }
  setInterval(showAge, 1000);

  function cardStates() {
    var m = {};
    document.querySelectorAll("#cards .card").forEach(function (c) {
      m[c.id] = c.getAttribute("data-state");
    });
    return m;
  }
  // A poll's events arrive as a list of their own below the poll (ol.news).
  // It may repeat events already shown (it looks a little before the
  // newest shown, for commits that landed late): those are dropped here,
  // then day separators that repeat the day above them. Returns how many
  // events are new.
  function mergeNews() {
    var ol = document.querySelector("#feed ol.news");
    if (!ol) return 0;
    ol.classList.remove("news");
    var fresh = 0;
    ol.querySelectorAll("li[id]").forEach(function (li) {
      if (document.querySelectorAll("#feed li[id=" + li.id + "]").length > 1) li.remove();
      else fresh++;
    });
    tidyDays();
    if (!ol.querySelector("li[id]")) ol.remove();
    else document.querySelectorAll("#feed > p.empty:not(.warn)").forEach(function (p) { p.remove(); });
    return fresh;
  }
  function tidyDays() {
    var prev = "";
    document.querySelectorAll("#feed li.day").forEach(function (d) {
      var next = d.nextElementSibling;
      if (!next || next.classList.contains("day") || d.getAttribute("data-day") === prev) d.remove();
      else prev = d.getAttribute("data-day");
    });
  }
  function say(text) {
    if (!live || !text) return;
    live.textContent = "";
    // A fresh text node is what makes screen readers speak again.
    setTimeout(function () { live.textContent = text; }, 50);
  }
  function plural(n) {
    var cat = "other";
    try { cat = new Intl.PluralRules(document.documentElement.lang).select(n); } catch (e) {}
    var t = live.getAttribute("data-" + cat) || live.getAttribute("data-other") || live.getAttribute("data-many") || "";
    return t.replace("{n}", n);
  }

  body.addEventListener("htmx:afterSettle", function (e) {
    var el = e.target;
    if (el.id === "cards") {
      found();
      lastOK = Date.now();
      summarize();
      showAge();
      var now = cardStates(), changed = [];
      Object.keys(now).forEach(function (id) {
        if (states[id] && states[id] !== now[id]) {
          var c = document.getElementById(id);
          changed.push(c.querySelector("h2").textContent + ": " + c.querySelector(".badge").textContent);
        }
      });
      states = now;
      if (changed.length) say(changed.join("; "));
      else if (manual) say(live.getAttribute("data-refreshed"));
      manual = false;
    } else if (el.id === "feed-new") {
      var fresh = mergeNews();
      if (fresh) say(plural(fresh));
    } else if (el.id === "feed" || el.classList.contains("feed")) {
      tidyDays();
      if (el.id === "feed") remember();
    }
    restoreFocus();
  });
  // The filter, the search and the chips are kept in the address (back and
  // forward reload the view they name, a link can be shared), as the full
  // page reads them.
  function remember() {
    var form = document.getElementById("filter");
    if (!form) return;
    var params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v !== "") params.append(k, v); });
    var url = "/" + (params.toString() ? "?" + params.toString() : "");
    if (url !== location.pathname + location.search) history.pushState(null, "", url);
    // The language and theme switches come back to this view too.
    document.querySelectorAll('input[name="back"]').forEach(function (b) { b.value = url; });
  }
  window.addEventListener("popstate", function () { location.reload(); });

  // Focus stays where it was across a refresh: the element focused inside
  // what is swapped is found again by its id.
  var focusID = "", focusAt = 0;
  body.addEventListener("htmx:beforeSwap", function (e) {
    var a = document.activeElement;
    // Polls run side by side: only the swap that holds the focus sets it.
    if (a && a.id && e.detail.target && e.detail.target.contains(a)) { focusID = a.id; focusAt = Date.now(); }
  });
  function restoreFocus() {
    var a = document.activeElement;
    // Only the refresh that took the focus away gives it back: an element
    // with that id arriving later must not take the focus by surprise.
    if (!focusID || Date.now() - focusAt > 1000 || (a && a !== body && a.id !== focusID)) { focusID = ""; return; }
    var el = document.getElementById(focusID);
    if (el) {
      if (el !== a) el.focus({ preventScroll: true });
      focusID = "";
    }
  }
  body.addEventListener("htmx:responseError", function (e) {
    // An ended session: the sign-in page says so and brings the admin back
    // to this view (filters and search included) afterwards.
    if (e.detail.xhr && e.detail.xhr.status === 401) window.location.assign("/login?expired=1&next=" + encodeURIComponent(location.pathname + location.search));
    else lost();
  });
  body.addEventListener("htmx:sendError", lost);
  body.addEventListener("htmx:timeout", lost);

  // The header's summary arrives with the cards (out of band); the tab's
  // title and favicon follow it, so a background tab tells the admin.
  function summarize() {
    var s = document.getElementById("summary");
    if (!s || lostAt) return;
    document.title = s.getAttribute("data-text") + " · vitals";
    var icon = document.getElementById("favicon");
    if (icon && icon.getAttribute("href") !== s.getAttribute("data-icon")) icon.setAttribute("href", s.getAttribute("data-icon"));
  }

  // Details are fetched when first opened, so the feed stays light.
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!d.open || !d.hasAttribute("data-c") || d.hasAttribute("data-loaded")) return;
    d.setAttribute("data-loaded", "");
    htmx.ajax("GET", "/partials/events/details?c=" + encodeURIComponent(d.getAttribute("data-c")),
      { target: d.querySelector(".dt"), swap: "innerHTML" });
  }, true);

  schedule();
})();
