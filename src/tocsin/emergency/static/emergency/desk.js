// The emergency desk (issue 9).
// The queue: server-sent events say when the queue changed (the server compares it every half second); the queue
// is then fetched again and swapped in, the focus kept on the same notification, the change announced to screen
// readers and counted in the tab's title. The arrow keys, Home and End move between notifications. The ages
// count up without a reload. Without JavaScript the page shows the queue of the moment it was loaded.
// A notification: a refused form's summary takes the focus; after an action, the next form does.
(function () {
  "use strict";

  var summary = document.querySelector(".summary[data-focus]");
  var actions = document.getElementById("actions");
  if (summary) {
    summary.focus();
  } else if (actions && window.location.hash === "#actions") {
    // After the browser's own move to the fragment (it would take the focus back), not before.
    window.addEventListener("load", function () {
      window.setTimeout(function () {
        var first = actions.querySelector("input:not([type=hidden]), textarea, button");
        if (first) first.focus();
      }, 0);
    });
  }

  var desk = document.getElementById("desk");
  var queue = document.getElementById("queue");
  if (!desk || !queue) return;
  var live = document.getElementById("live");
  var announce = document.getElementById("announce");
  var baseTitle = document.title;
  var lang = document.documentElement.lang || "en";
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
  var renderedAt = Date.now();

  function body() { return document.getElementById("queue-body"); }
  function links() { return Array.prototype.slice.call(queue.querySelectorAll("a.open")); }
  var current = body() ? body().getAttribute("data-version") : "";

  queue.addEventListener("keydown", function (event) {
    var list = links();
    var i = list.indexOf(document.activeElement);
    if (i < 0) return;
    var next = null;
    if (event.key === "ArrowDown") next = list[i + 1];
    else if (event.key === "ArrowUp") next = list[i - 1];
    else if (event.key === "Home") next = list[0];
    else if (event.key === "End") next = list[list.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  function title() {
    var n = body() ? parseInt(body().getAttribute("data-new"), 10) || 0 : 0;
    document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
  }

  function ages() {
    if (!relative) return;
    var elapsed = (Date.now() - renderedAt) / 1000;
    Array.prototype.forEach.call(queue.querySelectorAll("time[data-age]"), function (el) {
      var s = (parseInt(el.getAttribute("data-age"), 10) || 0) + elapsed;
      var text;
      if (s < 60) text = relative.format(-Math.floor(s), "second");
      else if (s < 3600) text = relative.format(-Math.floor(s / 60), "minute");
      else if (s < 86400) text = relative.format(-Math.floor(s / 3600), "hour");
      else text = relative.format(-Math.floor(s / 86400), "day");
      el.textContent = text;
    });
  }

  var fetching = false;
  var again = false;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    var before = body() ? parseInt(body().getAttribute("data-latest"), 10) || 0 : 0;
    var active = document.activeElement;
    var focusedId = active && queue.contains(active) ? active.id : "";
    fetch(desk.getAttribute("data-fragment"), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected) { window.location.reload(); throw new Error("signed out"); }
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        queue.innerHTML = html;
        renderedAt = Date.now();
        current = body().getAttribute("data-version");
        var latest = parseInt(body().getAttribute("data-latest"), 10) || 0;
        announce.textContent = desk.getAttribute(latest > before ? "data-msg-new" : "data-msg-changed");
        if (focusedId) {
          var target = document.getElementById(focusedId) || links()[0];
          if (target) target.focus();
        }
        title();
        ages();
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  // The browser reconnects by itself after a dropped stream, but gives up on an error answer (a 503 when too
  // many live pages are open): then this page opens a new stream itself, 10 s later.
  function connect() {
    var source = new EventSource(desk.getAttribute("data-events"));
    source.addEventListener("open", function () { if (live) live.hidden = false; });
    source.addEventListener("error", function () {
      if (live) live.hidden = true;
      if (source.readyState === EventSource.CLOSED) window.setTimeout(connect, 10000);
    });
    source.addEventListener("queue", function (event) {
      var d = JSON.parse(event.data);
      if (d.version !== current) refresh();
    });
  }
  if (window.EventSource) connect();
  title();
  ages();
  window.setInterval(ages, 15000);
})();
