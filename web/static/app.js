// Live job progress: poll the job's status while it runs, update the page in place.
(function () {
  "use strict";
  function pct(v) { return (v * 100).toFixed(1) + "%"; }
  function text(el, value) { if (el) { el.textContent = value; } }
  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "—"; }
  function cell(value, cls) {
    var td = document.createElement("td");
    if (cls === "status") {
      var span = document.createElement("span");
      span.className = "status " + value; span.textContent = value; td.appendChild(span);
    } else {
      td.textContent = value; if (cls) { td.className = cls; }
    }
    return td;
  }
  function render(root, job) {
    var q = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
    var status = q("status");
    text(status, job.status); status.className = "status " + job.status;
    q("progress").value = job.progress;
    text(q("percent"), pct(job.progress));
    text(q("started_at"), when(job.started_at));
    text(q("finished_at"), when(job.finished_at));
    text(q("error"), job.error ? job.error.code + ": " + job.error.message : "—");
    text(q("result"), job.result ? JSON.stringify(job.result, null, 2) : "—");
    var body = q("steps"); body.textContent = "";
    job.steps.forEach(function (s) {
      var tr = document.createElement("tr");
      [[s.seq], [s.domain], [s.action], [s.status, "status"], [s.attempts, "num"], [pct(s.progress), "num"]]
        .forEach(function (c) { tr.appendChild(cell(c[0], c[1])); });
      body.appendChild(tr);
    });
  }
  function poll(root) {
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (job) {
        render(root, job);
        if (job.status !== "succeeded" && job.status !== "failed") { setTimeout(function () { poll(root); }, 1000); }
        else if (root.dataset.reloadWhenDone === "yes") { window.location.reload(); }
      })
      .catch(function () { setTimeout(function () { poll(root); }, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("job");
    if (root && root.dataset.finished === "no") { poll(root); }
  });
})();

// A product call's progress: poll its status while its jobs run; reload when it has settled
// (the page then shows the counts, the charge and, for the calling bank, the result).
(function () {
  "use strict";
  function pct(v) { return (v * 100).toFixed(1) + "%"; }
  function render(root, call) {
    var q = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
    var state = q("state");
    if (state) { state.textContent = call.state; state.className = "call-state status " + call.state; }
    var bar = q("progress"); if (bar) { bar.value = call.progress; }
    var percent = q("percent"); if (percent) { percent.textContent = pct(call.progress); }
    call.jobs.forEach(function (j) {
      var row = root.querySelector('tr[data-job="' + j.id + '"]');
      if (!row) { return; }
      var cells = row.querySelectorAll("td");
      var span = cells[2].querySelector("span");
      span.textContent = j.status; span.className = "status " + j.status;
      cells[3].textContent = pct(j.progress);
    });
  }
  function poll(root) {
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (call) {
        render(root, call);
        if (call.state === "running") { setTimeout(function () { poll(root); }, 1000); }
        else { window.location.reload(); }
      })
      .catch(function () { setTimeout(function () { poll(root); }, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("call");
    if (root && root.dataset.finished === "no") { poll(root); }
  });
})();
