// One alarm case in the operator console (issue 9): keyboard shortcuts, the notification's live preview (what it
// states in the law's words, what is missing, the refusals, the phone script) when the channel or the incident text
// changes, and "Log a call" links that fill the call form from the registry record. Every form works without it.
(function () {
  "use strict";
  var root = document.getElementById("case");
  if (!root) return;
  root.classList.add("js");

  // The case may change while it is open (a new event, a colleague, the desk's answer): every 5 s the page asks
  // for the case's version and, when it changed, says so with a link that reloads it. It never reloads by itself:
  // the operator may be typing.
  var changed = document.getElementById("changed");
  function watch() {
    var url = root.getAttribute("data-version-url");
    if (!url || !changed || !window.fetch) return;
    window.setInterval(function () {
      if (!changed.hidden) return;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d || d.version === root.getAttribute("data-version")) return;
          changed.textContent = root.getAttribute("data-changed") + " ";
          var link = document.createElement("a");
          link.href = window.location.pathname;
          link.textContent = root.getAttribute("data-reload");
          changed.appendChild(link);
          changed.hidden = false;
        })
        .catch(function () { /* offline a moment: the next try */ });
    }, 5000);
  }
  watch();

  function focusIn(id, selector) {
    var part = document.getElementById(id);
    if (!part) return false;
    var target = part.querySelector(selector || "input:not([type=hidden]), select, textarea, button");
    part.scrollIntoView({ block: "start" });
    if (target) target.focus({ preventScroll: true });
    return true;
  }
  function submit(id) {
    var form = document.getElementById(id);
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
    return true;
  }
  function nextStep() {
    var step = root.querySelector("ol.steps li.open");
    return step ? focusIn(step.id, "input[name=text]") : false;
  }

  // A refused form: its summary takes the focus, so the reader hears what to fix.
  var summary = root.querySelector(".errors.summary");
  if (summary) summary.focus();

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var done;
    switch (event.key) {
      case "c": done = submit("claim-form"); break;
      case "t": done = submit("take-over-form"); break;
      case "s": done = nextStep(); break;
      case "v": done = focusIn("verify-form", "select"); break;
      case "l": done = focusIn("call-form", "select"); break;
      case "n":
        var again = document.getElementById("notify-again");
        if (again) again.open = true;
        done = focusIn("notify-form", "input[name=channel]:checked") || focusIn("notify-form");
        break;
      case "x": done = focusIn("close-form", "input[name=reason]"); break;
      case "q": window.location.assign(root.getAttribute("data-queue-url")); done = true; break;
      case "?":
        var keys = document.getElementById("keys");
        keys.open = !keys.open;
        if (keys.open) keys.querySelector("summary").focus();
        done = true;
        break;
      default: return;
    }
    if (done) event.preventDefault();
  });

  // The link to the shortcuts opens them.
  Array.prototype.forEach.call(root.querySelectorAll('a[href="#keys"]'), function (link) {
    link.addEventListener("click", function () { document.getElementById("keys").open = true; });
  });

  // "Log a call" beside a person of the record: their role, name and number in the call form, no page load.
  Array.prototype.forEach.call(root.querySelectorAll("a.log-call"), function (link) {
    link.addEventListener("click", function (event) {
      var form = document.getElementById("call-form");
      if (!form) return;
      event.preventDefault();
      form.elements.callee.value = link.getAttribute("data-callee");
      form.elements.name.value = link.getAttribute("data-name");
      form.elements.number.value = link.getAttribute("data-number");
      focusIn("call-form", "select[name=outcome]");
    });
  });

  // The notification's preview, from the server (the law is checked there), for the channel and incident chosen.
  var form = document.getElementById("notify-form");
  var preview = document.getElementById("preview");
  if (!form || !preview) return;
  var phoneFields = document.getElementById("phone-fields");
  var timer = null;
  var asked = 0;
  function channel() {
    var checked = form.querySelector("input[name=channel]:checked");
    return checked ? checked.value : "";
  }
  function refresh() {
    var incident = form.elements.incident ? form.elements.incident.value : "";
    var url = root.getAttribute("data-preview-url") + "?channel=" + encodeURIComponent(channel()) +
      "&incident=" + encodeURIComponent(incident);
    var mine = ++asked;
    preview.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { if (mine === asked) preview.innerHTML = html; })
      .catch(function () { /* the preview shown stays; the form still posts and the server checks */ })
      .then(function () { if (mine === asked) preview.removeAttribute("aria-busy"); });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 400); }
  Array.prototype.forEach.call(form.querySelectorAll("input[name=channel]"), function (radio) {
    radio.addEventListener("change", function () {
      if (phoneFields) phoneFields.setAttribute("data-hidden", channel() === "phone" ? "0" : "1");
      refresh();
    });
  });
  if (form.elements.incident) form.elements.incident.addEventListener("input", later);
})();
