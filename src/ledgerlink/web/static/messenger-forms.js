// The messenger's forms: the composer (fetch, a visible character limit, suggested chips),
// quick replies on a bank's prompt, state-changing card actions and confirmations. What they
// send comes back over the live stream (messenger.js). No framework, no build step.
(function () {
  "use strict";

  var messagesBox = document.getElementById("messages");
  var pageLocale = (messagesBox && messagesBox.getAttribute("data-locale")) || "en-US";

  // Unlinking asks first; the form posts only when the person confirms.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // The composer sends with fetch; the message and its answer arrive over the live stream.
  var composer = document.getElementById("composer");
  if (composer) {
    // A visible counter and a clear limit: nothing is cut off silently (issue 13).
    var field = composer.querySelector('[name="text"]');
    var counter = document.getElementById("composer-count");
    var max = parseInt(composer.getAttribute("data-max") || "2000", 10);
    var fmt = new Intl.NumberFormat(pageLocale);
    var updateCount = function () {
      var n = field.value.length;
      var over = n > max;
      counter.textContent = over
        ? fmt.format(n) + " / " + fmt.format(max) + " · " + fmt.format(n - max) + " too many characters"
        : fmt.format(n) + " / " + fmt.format(max);
      counter.classList.toggle("over", over);
      field.setAttribute("aria-invalid", over ? "true" : "false");
      composer.querySelector('button[type="submit"]').disabled = over;
      field.style.height = "auto";
      // border-box: the height holds the borders too, or the last line (the placeholder's) is cut
      var borders = field.offsetHeight - field.clientHeight;
      field.style.height = Math.min(field.scrollHeight + borders, 160) + "px";
    };
    field.addEventListener("input", updateCount);
    window.addEventListener("resize", updateCount);  // a narrower box wraps the placeholder
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.querySelectorAll("[data-chip]").forEach(function (chip) {
      chip.addEventListener("click", function () {
        field.value = chip.getAttribute("data-chip");
        updateCount();
        composer.requestSubmit();
      });
    });
    updateCount();
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = composer.querySelector('[name="text"]');
      var text = input.value.trim();
      if (!text || input.value.length > max) return;
      composer.removeAttribute("data-error");
      var button = composer.querySelector('button[type="submit"]');
      button.disabled = true;
      fetch(composer.action, {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: new FormData(composer),
        credentials: "same-origin"
      }).then(function (r) {
        if (r.status === 204) { input.value = ""; updateCount(); return; }
        if (r.status === 401) { location.href = "/login"; return; }
        return r.json().then(function (p) { composer.setAttribute("data-error", p.detail || p.code); });
      }).catch(function () {
        composer.setAttribute("data-error", "not sent: connection lost");
      }).then(function () { button.disabled = false; input.focus(); });
    });
  }

  // Quick replies (a bank's "Was this you?"): sent with fetch and the page's CSRF token; the
  // card is edited in place over the live stream. Errors show on the card.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".reply-form button");
    if (!button) return;
    event.preventDefault();
    var form = button.closest("form");
    var data = new FormData(form);
    data.set("reply_id", button.value);
    var csrf = document.querySelector('#composer input[name="csrf"]');
    if (csrf) data.set("csrf", csrf.value);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST", headers: { "Accept": "application/json" }, body: data, credentials: "same-origin"
    }).then(function (r) {
      if (r.status === 204) return;
      if (r.status === 401) { location.href = "/login"; return; }
      return r.json().then(function (p) {
        form.setAttribute("data-error", p.detail || p.code);
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      });
    }).catch(function () {
      form.setAttribute("data-error", "not sent: connection lost");
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  // A card action that changes state (renewing a consent) is a plain form POST: it goes with
  // the page's CSRF token (without it the server answers a confirmation page instead).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("action-form")) return;
    var token = document.querySelector('input[name="csrf"]');
    if (!token || form.querySelector('input[name="csrf"]')) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf";
    input.value = token.value;
    form.appendChild(input);
  });
})();
