// In-browser verification of the ledger (RFC 6962 / RFC 9162) with the browser's own WebCrypto:
// SHA-256 for leaf and node hashes, Ed25519 for the checkpoint signature. The server supplies
// only data; every conclusion shown here is computed in this page.
(function () {
  "use strict";
  var enc = new TextEncoder();

  function hex(bytes) { return Array.from(new Uint8Array(bytes), function (b) { return b.toString(16).padStart(2, "0"); }).join(""); }
  function unhex(text) { var out = new Uint8Array(text.length / 2); for (var i = 0; i < out.length; i++) { out[i] = parseInt(text.substr(i * 2, 2), 16); } return out; }
  function concat(a, b, c) { var out = new Uint8Array(a.length + b.length + (c ? c.length : 0)); out.set(a, 0); out.set(b, a.length); if (c) { out.set(c, a.length + b.length); } return out; }
  function sha256(bytes) { return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); }); }
  function leafHash(raw) { return sha256(concat(new Uint8Array([0]), enc.encode(raw))); }
  function nodeHash(l, r) { return sha256(concat(new Uint8Array([1]), l, r)); }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ": HTTP " + r.status); } return r.json(); });
  }
  function say(el, ok, text) { el.className = ok ? "ok" : "bad"; el.textContent = text; }

  // Root of a list of leaf hashes: pair left to right, carry an odd last node up unchanged;
  // this is the same tree as RFC 6962's split at the largest power of two below n.
  async function merkleRoot(level) {
    if (level.length === 0) { return sha256(new Uint8Array(0)); }
    while (level.length > 1) {
      var next = [];
      for (var i = 0; i + 1 < level.length; i += 2) { next.push(await nodeHash(level[i], level[i + 1])); }
      if (level.length % 2 === 1) { next.push(level[level.length - 1]); }
      level = next;
    }
    return level[0];
  }

  async function verifiedCheckpoint(url) {
    var cp = await getJSON(url);
    var b64 = cp.public_key_pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    var der = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    var key = await crypto.subtle.importKey("spki", der, { name: "Ed25519" }, false, ["verify"]);
    var sig = Uint8Array.from(atob(cp.signature), function (c) { return c.charCodeAt(0); });
    var good = await crypto.subtle.verify({ name: "Ed25519" }, key, sig, enc.encode(cp.body));
    if (!good) { throw new Error("the checkpoint's signature does not verify"); }
    var claims = JSON.parse(cp.body);
    claims.computed_key_id = hex(await sha256(der.slice(der.length - 32))).slice(0, 16);
    return claims;
  }

  async function verifyLog(button, out) {
    out.className = "muted"; out.textContent = "Verifying…";
    var cp = await verifiedCheckpoint(button.dataset.checkpointUrl);
    var leaves = [], prev = "";
    for (var start = 0; start < cp.tree_size; start += 1000) {
      var end = Math.min(cp.tree_size, start + 1000);
      var page = await getJSON(button.dataset.entriesUrl + "?start=" + start + "&end=" + end);
      for (var j = 0; j < page.entries.length; j++) {
        var item = page.entries[j], parsed = JSON.parse(item.raw);
        if (parsed.index !== leaves.length) { throw new Error("entry " + leaves.length + " is missing or out of order"); }
        if (parsed.prev !== prev) { throw new Error("entry " + (leaves.length - 1) + " was changed (the next entry's prev differs)"); }
        var leaf = await leafHash(item.raw);
        prev = hex(leaf); leaves.push(leaf);
      }
      if (page.entries.length === 0) { break; }
    }
    if (leaves.length !== cp.tree_size) { throw new Error("got " + leaves.length + " entries; the checkpoint signs " + cp.tree_size); }
    var root = hex(await merkleRoot(leaves));
    if (root !== cp.root_hash) { throw new Error("the recomputed root differs from the signed checkpoint"); }
    say(out, true, "Verified in this browser: " + cp.tree_size + " entries hash to the signed root " + root.slice(0, 16) + "…; Ed25519 signature valid; key id " + cp.computed_key_id + ".");
  }

  async function verifyInclusion(button, out) {
    out.className = "muted"; out.textContent = "Verifying…";
    var raw = document.getElementById("entry-raw").textContent;
    var index = Number(document.getElementById("entry-raw").dataset.index);
    var cp = await verifiedCheckpoint(button.dataset.checkpointUrl);
    var proof = await getJSON(button.dataset.inclusionUrl + "?index=" + index + "&tree_size=" + cp.tree_size);
    // RFC 9162 §2.1.3.2
    var fn = index, sn = cp.tree_size - 1, r = await leafHash(raw);
    for (var k = 0; k < proof.path.length; k++) {
      var p = unhex(proof.path[k]);
      if (p.length !== 32 || sn === 0) { throw new Error("malformed audit path"); }
      if ((fn & 1) === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1; sn >>= 1;
    }
    if (sn !== 0 || hex(r) !== cp.root_hash) { throw new Error("the audit path does not lead to the signed root"); }
    say(out, true, "Included: this entry's hash and its " + proof.path.length + "-step audit path give the signed root of the " + cp.tree_size + "-entry log; signature valid (key id " + cp.computed_key_id + ").");
  }

  function bind(id, resultId, fn) {
    var button = document.getElementById(id);
    if (!button) { return; }
    button.addEventListener("click", function () {
      var out = document.getElementById(resultId);
      fn(button, out).catch(function (err) { say(out, false, "NOT verified: " + err.message); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    bind("verify-log", "verify-result", verifyLog);
    bind("verify-inclusion", "inclusion-result", verifyInclusion);
  });
})();
