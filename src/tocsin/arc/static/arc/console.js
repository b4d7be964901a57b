// The operator console's live queue (issue 9). Server-sent events from /arc/console/events bring the queue's
// table each time it changes; the selected case stays selected, new alarms are announced to screen readers, the
// waiting times tick. Keyboard: j/k or the arrows move the selection, Enter opens, c claims, ? shows the keys.
// Without JavaScript the page shows the queue of the moment it was loaded, each case a link and a Claim button.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var live = document.getElementById("queue-live");
  var status = document.getElementById("live");
  var statusText = document.getElementById("live-text");
  var announce = document.getElementById("announce");
  var claimForm = document.getElementById("claim-form");
  var keys = document.getElementById("keys");
  var selected = null; // the selected case's id (a string)
  var known = []; // the case ids of the last queue, to tell the new ones (first those of the page)
  var skew = 0; // the server's clock less this browser's, in ms

  function rows() { return Array.prototype.slice.call(live.querySelectorAll("tbody tr[data-case]")); }
  function fill(template, values) {
    return template.replace(/%\((\w+)\)(0?\d*)[sd]/g, function (_m, name, pad) {
      var value = String(values[name]);
      var width = parseInt(pad || "0", 10);
      while (value.length < width) value = "0" + value;
      return value;
    });
  }
  function age(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    if (s < 60) return fill(root.dataset.fmtS, { n: s });
    if (s < 3600) return fill(root.dataset.fmtMin, { n: Math.floor(s / 60) });
    if (s < 86400) return fill(root.dataset.fmtH, { h: Math.floor(s / 3600), m: Math.floor(s / 60) % 60 });
    return fill(root.dataset.fmtD, { n: Math.floor(s / 86400) });
  }
  function tick() {
    var now = Date.now() + skew;
    Array.prototype.forEach.call(live.querySelectorAll("time.age"), function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = age((now - at) / 1000);
    });
  }

  function select(row, focus) {
    rows().forEach(function (r) { r.classList.remove("selected"); });
    if (!row) { selected = null; return; }
    row.classList.add("selected");
    selected = row.getAttribute("data-case");
    if (focus) {
      var link = row.querySelector("a.case-link");
      if (link) link.focus();
    }
  }
  function current() { return selected ? live.querySelector('tr[data-case="' + selected + '"]') : null; }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next], true);
  }
  function claim() {
    var row = current();
    if (!row) return;
    if (!row.querySelector("button.claim")) { open(); return; } // a colleague has it: open it (Take over is there)
    claimForm.setAttribute("action", row.getAttribute("data-claim-url"));
    claimForm.submit();
  }
  function open() {
    var row = current();
    var link = row && row.querySelector("a.case-link");
    if (link) window.location.assign(link.href);
  }

  known = rows().map(function (r) { return r.getAttribute("data-case"); });

  live.addEventListener("focusin", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-case]");
    if (row) select(row, false);
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var inQueue = live.contains(target) || target === document.body || target === document.documentElement;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "ArrowDown": if (!inQueue) return; move(1); break;
      case "ArrowUp": if (!inQueue) return; move(-1); break;
      case "Enter":
        if (tag === "A" || tag === "BUTTON" || tag === "SUMMARY") return; // the focused control does it
        if (!current()) return;
        open();
        break;
      case "c": claim(); break;
      case "?": keys.open = !keys.open; if (keys.open) keys.querySelector("summary").focus(); break;
      default: return;
    }
    event.preventDefault();
  });

  function setStatus(state) {
    status.classList.remove("on", "off");
    if (state) status.classList.add(state === "on" ? "on" : "off");
    statusText.textContent = statusText.getAttribute("data-" + state) || statusText.textContent;
  }

  // The browser reconnects by itself after a dropped stream, but gives up on an error answer (a 503 when too
  // many live pages are open, a sign-in page): then this page opens a new stream itself, 10 s later.
  function connect() {
    var source = new EventSource(root.getAttribute("data-live-url"));
    source.addEventListener("open", function () { setStatus("on"); });
    source.addEventListener("error", function () {
      setStatus("off");
      if (source.readyState === EventSource.CLOSED) window.setTimeout(connect, 10000);
    });
    source.addEventListener("end", function () { source.close(); setStatus("end"); });
    source.addEventListener("queue", function (event) {
      var d = JSON.parse(event.data);
      skew = Date.parse(d.at) - Date.now();
      var fresh = d.cases.filter(function (c) { return known.indexOf(String(c.id)) < 0; });
      if (fresh.length === 1) announce.textContent = fill(root.dataset.newOne, { title: fresh[0].title });
      else if (fresh.length > 1) announce.textContent = fill(root.dataset.newMany, { n: fresh.length, title: fresh[0].title });
      known = d.cases.map(function (c) { return String(c.id); });
      if (d.version === root.getAttribute("data-version")) { tick(); return; } // the page has this one already
      root.setAttribute("data-version", d.version);
      var focused = live.contains(document.activeElement);
      var before = rows().indexOf(current());
      live.innerHTML = d.html;
      var row = current();
      if (!row && selected !== null) {
        var all = rows();
        row = all.length ? all[Math.min(Math.max(before, 0), all.length - 1)] : null;
      }
      select(row, focused);
      tick();
    });
  }
  if (window.EventSource) connect();
  setInterval(tick, 5000);
})();
