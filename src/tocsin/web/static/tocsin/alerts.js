// Tocsin alert composer: a live SMS counter (characters, parts, GSM-7 or UCS-2) under each SMS field.
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
})();
