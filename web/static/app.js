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
  var seen = eventIds();

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
  function eventIds() {
    var m = {};
    // Only the polled head: pages loaded with "Load more" are not new.
    document.querySelectorAll("#feed-head li").forEach(function (li) { m[li.id] = true; });
    return m;
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
    } else if (el.id === "feed-head" || el.id === "feed") {
      var fresh = 0, ids = eventIds();
      if (el.id === "feed-head") {
        Object.keys(ids).forEach(function (id) { if (!seen[id]) fresh++; });
      }
      seen = ids;
      if (fresh) say(plural(fresh));
    }
  });
  body.addEventListener("htmx:responseError", function (e) {
    if (e.detail.xhr && e.detail.xhr.status === 401) window.location.assign("/login");
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
