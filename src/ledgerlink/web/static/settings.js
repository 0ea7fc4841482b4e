// Settings page: forms with data-confirm ask before they post (revoking a bank link).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
// Time zone (issue 13): the browser's IANA zone goes into hidden `browser_zone` fields, and
// preselects the zone field until the person keeps a zone of their own.
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (!zone) return;
  document.querySelectorAll("[data-browser-zone]").forEach(function (field) { field.value = zone; });
  document.querySelectorAll("[data-default-from-browser]").forEach(function (field) {
    if (!field.value) {
      field.value = zone;
      field.setAttribute("data-from-browser", "1");
    }
  });
})();
