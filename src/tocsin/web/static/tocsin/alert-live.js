// The live dashboard of a launched alert: server-sent events update deliveries per channel and state,
// the area broadcasts' reported counts and the acknowledgements. Without JavaScript the page shows the
// figures of the moment it was loaded.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.EventSource) return;
  var field = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
  var set = function (selector, value) {
    var cell = root.querySelector(selector);
    if (cell && value !== undefined && value !== null) cell.textContent = value;
  };
  var source = new EventSource(root.getAttribute("data-live-url"));
  source.addEventListener("open", function () { field("live").hidden = false; });
  source.addEventListener("error", function () { field("live").hidden = true; });
  source.addEventListener("dashboard", function (event) {
    var d = JSON.parse(event.data);
    var bar = document.getElementById("progress-bar");
    if (bar) { bar.max = d.total; bar.value = d.ended; }
    set('[data-field="ended"]', d.ended);
    set('[data-field="total"]', d.total);
    Object.keys(d.channels).forEach(function (channel) {
      Object.keys(d.channels[channel]).forEach(function (state) {
        set('[data-count="' + channel + ":" + state + '"]', d.channels[channel][state]);
      });
    });
    d.broadcasts.forEach(function (b) {
      set('[data-bc="' + b.id + ':state"]', b.state + (b.error ? " — " + b.error : ""));
      ["cells", "handsets", "sent", "delivered"].forEach(function (key) {
        set('[data-bc="' + b.id + ":" + key + '"]', b.counts[key]);
      });
    });
    Object.keys(d.calls || {}).forEach(function (key) { set('[data-call="' + key + '"]', d.calls[key]); });
    ["ok", "help", "other", "voice_ok"].forEach(function (kind) { set('[data-ack="' + kind + '"]', d.acks[kind]); });
    field("done").hidden = !d.done;
  });
})();
