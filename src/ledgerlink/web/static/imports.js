// Statement imports (issue 10): drop a file on the upload page's zone, or drag it into a thread
// of the messenger; the file goes to POST /imports like the upload form, and the browser
// follows to the next step (CSV preview, confirmation) or to the thread with the summary card.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  var zone = document.getElementById("drop-zone");
  if (form && zone) {
    var input = document.getElementById("import-file");
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
    });
    return;
  }
  var app = document.getElementById("app");
  var chat = document.querySelector("main.chat");
  var csrf = document.querySelector('input[name="csrf"]');
  if (!app || !chat || !csrf) { return; }
  var threadId = app.getAttribute("data-current-thread") || "";
  var overlay = document.createElement("div");
  overlay.className = "drop-overlay";
  overlay.setAttribute("data-testid", "drop-overlay");
  overlay.textContent = "Drop a statement file to import it";
  chat.appendChild(overlay);
  var depth = 0;
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0;
  }
  function notice(text) {
    var box = document.createElement("div");
    box.className = "notice notice-error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "import-notice");
    box.textContent = text;
    var messages = document.getElementById("messages");
    chat.insertBefore(box, messages);
  }
  chat.addEventListener("dragenter", function (e) {
    if (!hasFiles(e)) { return; }
    e.preventDefault(); depth += 1; overlay.classList.add("shown");
  });
  chat.addEventListener("dragover", function (e) { if (hasFiles(e)) { e.preventDefault(); } });
  chat.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) { overlay.classList.remove("shown"); }
  });
  chat.addEventListener("drop", function (e) {
    if (!hasFiles(e)) { return; }
    e.preventDefault(); depth = 0; overlay.classList.remove("shown");
    var file = e.dataTransfer.files[0];
    var body = new FormData();
    body.append("csrf", csrf.value);
    if (threadId) { body.append("thread", threadId); }
    body.append("file", file, file.name);
    overlay.textContent = "Reading " + file.name + "…";
    overlay.classList.add("shown");
    fetch("/imports", { method: "POST", body: body, credentials: "same-origin",
                        headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        overlay.classList.remove("shown");
        overlay.textContent = "Drop a statement file to import it";
        if (res.ok && res.body.location) { window.location.assign(res.body.location); return; }
        notice(res.body.detail || "The file could not be imported.");
      })
      .catch(function () {
        overlay.classList.remove("shown");
        notice("The file could not be sent. Please try again.");
      });
  });
}());
