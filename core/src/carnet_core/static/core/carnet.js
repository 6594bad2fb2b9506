// Carnet shell behaviour. Served from our own origin; no inline script anywhere (CSP).
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // htmx requests carry the CSRF token in a header, like forms carry it in a field.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  // Dialogs: elements with data-close-dialog close their <dialog>.
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) { dialog.close(); }
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target.closest("dialog");
    if (dialog && !dialog.open && dialog.querySelector("form")) { dialog.showModal(); }
  });
})();
