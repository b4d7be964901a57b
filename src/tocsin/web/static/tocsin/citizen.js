// Tocsin citizen pages: the anti-abuse proof of work and the address autocomplete.
// No dependency; loaded with `defer` (the CSP allows our own scripts only).
"use strict";

(function () {
  // --- SHA-256 (FIPS 180-4), synchronous: millions of short hashes, no Web Crypto round trips ---
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Uint32Array(64);
  var H = new Uint32Array(8);

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  // Hash ASCII `text`; returns the first 32-bit word of the digest (enough to count leading zero bits).
  function sha256Head(text) {
    var n = text.length, blocks = ((n + 9 + 63) >> 6), bytes = new Uint8Array(blocks * 64), i, j;
    for (i = 0; i < n; i++) bytes[i] = text.charCodeAt(i);
    bytes[n] = 0x80;
    var bits = n * 8, end = blocks * 64;
    bytes[end - 4] = (bits >>> 24) & 255; bytes[end - 3] = (bits >>> 16) & 255;
    bytes[end - 2] = (bits >>> 8) & 255; bytes[end - 1] = bits & 255;
    H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a;
    H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19;
    for (var b = 0; b < blocks; b++) {
      for (i = 0; i < 16; i++) {
        j = b * 64 + i * 4;
        W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
        var s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = H[0], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], bb = H[1];
      for (i = 0; i < 64; i++) {
        var S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += bb; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    return H[0] >>> 0;
  }
  window.tocsinSha256Head = sha256Head; // for the browser test's cross-check

  function solve(challenge, bits, done) {
    var nonce = 0, limit = bits >= 32 ? 0 : Math.pow(2, 32 - bits);
    function chunk() {
      var stop = nonce + 20000;
      for (; nonce < stop; nonce++) {
        if (sha256Head(challenge + ":" + nonce) < limit) { done(String(nonce)); return; }
      }
      setTimeout(chunk, 0); // keep the page responsive
    }
    chunk();
  }

  document.querySelectorAll("form[data-pow]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var nonce = form.querySelector("input[name=nonce]");
      var challenge = form.querySelector("input[name=challenge]");
      if (!nonce || !challenge || nonce.value) return;
      event.preventDefault();
      var status = form.querySelector(".pow-status");
      if (status) status.hidden = false;
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      solve(challenge.value, parseInt(form.dataset.bits || "16", 10), function (found) {
        nonce.value = found;
        if (button) button.disabled = false;
        form.submit();
      });
    });
  });

  // --- address autocomplete: fills the <datalist>, and the hidden id when a suggestion is chosen ---
  document.querySelectorAll("input[data-address]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var hidden = document.getElementById(input.dataset.address);
    var found = {};
    var timer = null;
    input.addEventListener("input", function () {
      if (hidden) hidden.value = found[input.value] || "";
      if (found[input.value]) return;
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 3) return;
      timer = setTimeout(function () {
        fetch("/citizen/addresses?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            list.textContent = "";
            data.results.forEach(function (a) {
              found[a.label] = String(a.id);
              var option = document.createElement("option");
              option.value = a.label;
              list.appendChild(option);
            });
            if (hidden) hidden.value = found[input.value] || "";
          })
          .catch(function () {});
      }, 250);
    });
  });
})();
