// Live progress of a send request: server-sent events update the counts, bar and stacked bars.
(function () {
  "use strict";
  var root = document.querySelector("[data-progress-url]");
  if (!root || !window.EventSource) return;
  var field = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
  var source = new EventSource(root.getAttribute("data-progress-url"));
  source.addEventListener("open", function () { field("live").hidden = false; });
  source.addEventListener("error", function () { field("live").hidden = true; });
  source.addEventListener("progress", function (event) {
    var p = JSON.parse(event.data);
    var bar = document.getElementById("progress-bar");
    bar.max = p.total; bar.value = p.ended;
    field("ended").textContent = p.ended;
    field("total").textContent = p.total;
    Object.keys(p.channels).forEach(function (channel) {
      var counts = p.channels[channel], total = 0;
      Object.keys(counts).forEach(function (s) { total += counts[s]; });
      Object.keys(counts).forEach(function (state) {
        var cell = root.querySelector('[data-count="' + channel + ":" + state + '"]');
        if (cell) cell.textContent = counts[state];
        var seg = root.querySelector('[data-seg="' + channel + ":" + state + '"]');
        if (seg) seg.style.width = (total ? (100 * counts[state] / total) : 0) + "%";
      });
    });
    field("done").hidden = !p.done;
  });
  source.addEventListener("done", function () { source.close(); field("live").hidden = true; });
})();
