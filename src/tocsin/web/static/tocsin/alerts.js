// Tocsin alert composer: live counters under each SMS field (characters, parts, GSM-7 or UCS-2) and each
// cell-broadcast field (pages).
"use strict";

(function () {
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";

  function measure(text) {
    var septets = 0, gsm = true;
    for (var i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      if (BASIC.indexOf(c) >= 0) septets += 1;
      else if (EXTENDED.indexOf(c) >= 0) septets += 2;
      else { gsm = false; break; }
    }
    if (gsm) return { coding: "GSM-7", used: septets, parts: septets <= 160 ? 1 : Math.ceil(septets / 153) };
    var units = text.length; // UTF-16 code units, as UCS-2 counts them
    return { coding: "UCS-2", used: units, parts: units <= 70 ? 1 : Math.ceil(units / 67) };
  }

  document.querySelectorAll("input[data-sms-counter]").forEach(function (input) {
    var out = document.getElementById(input.dataset.smsCounter);
    function update() {
      if (!input.value) { out.textContent = ""; return; }
      var m = measure(input.value);
      out.textContent = m.used + " · " + m.coding + " · " + m.parts + (m.parts === 1 ? " SMS" : " SMS parts");
    }
    input.addEventListener("input", update);
    update();
  });

  // Cell broadcast: pages of 93 GSM-7 characters or 41 UCS-2 ones, at most 15.
  document.querySelectorAll("input[data-cb-counter]").forEach(function (input) {
    var out = document.getElementById(input.dataset.cbCounter);
    function update() {
      if (!input.value) { out.textContent = ""; return; }
      var m = measure(input.value);
      var pages = Math.max(1, Math.ceil(m.used / (m.coding === "GSM-7" ? 93 : 41)));
      out.textContent = m.used + " · " + m.coding + " · " + pages + " / 15 " + (pages === 1 ? "page" : "pages");
      out.classList.toggle("error", pages > 15);
    }
    input.addEventListener("input", update);
    update();
  });
})();

// The area map: Belgium's municipalities as the background (no tile server), Leaflet.draw for a polygon or a
// circle; what is drawn fills the form's area fields, which also work without the map.
(function () {
  var el = document.getElementById("alert-map");
  if (!el || !window.L || !L.Control.Draw) return;
  var map = L.map(el, { zoomSnap: 0.25, attributionControl: false }).setView([50.55, 4.45], 7.25);
  fetch(el.dataset.outlines, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (g) {
      L.geoJSON(g, {
        style: { color: "#777", weight: 0.6, fillColor: "#eef3f8", fillOpacity: 0.9 },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name + " (" + f.properties.nis + ")"); }
      }).addTo(map);
    });
  var drawn = new L.FeatureGroup().addTo(map);
  map.addControl(new L.Control.Draw({
    draw: { polyline: false, rectangle: false, marker: false, circlemarker: false,
            polygon: { allowIntersection: false, showArea: false }, circle: { showRadius: true } },
    edit: { featureGroup: drawn }
  }));
  function field(id) { return document.getElementById(id); }
  function fill(layer) {
    if (layer instanceof L.Circle) {
      var c = layer.getLatLng();
      field("area_kind").value = "circle";
      field("area_lon").value = c.lng.toFixed(6);
      field("area_lat").value = c.lat.toFixed(6);
      field("area_radius_m").value = Math.round(layer.getRadius());
    } else {
      field("area_kind").value = "polygon";
      field("area_geojson").value = JSON.stringify(layer.toGeoJSON().geometry);
    }
  }
  map.on(L.Draw.Event.CREATED, function (e) { drawn.clearLayers(); drawn.addLayer(e.layer); fill(e.layer); });
  map.on(L.Draw.Event.EDITED, function (e) { e.layers.eachLayer(fill); });
  // What the draft already has, drawn again.
  try {
    if (field("area_kind").value === "polygon" && field("area_geojson").value) {
      drawn.addLayer(L.geoJSON(JSON.parse(field("area_geojson").value)).getLayers()[0]);
    } else if (field("area_kind").value === "circle" && field("area_lat").value) {
      drawn.addLayer(L.circle([parseFloat(field("area_lat").value), parseFloat(field("area_lon").value)],
                              { radius: parseFloat(field("area_radius_m").value) }));
    }
    if (drawn.getLayers().length) map.fitBounds(drawn.getBounds(), { maxZoom: 12 });
  } catch (err) { /* the form fields still hold the area */ }
})();
