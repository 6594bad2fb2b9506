// Online bookings page: "Copier" puts a public address in the clipboard, "Imprimer" prints the
// QR poster. Progressive enhancement: the buttons stay hidden without JavaScript (the address is
// still selectable, the browser still prints). Served from our origin (CSP: no inline script).
(function () {
  "use strict";
  function status(text) {
    var box = document.querySelector("[data-copy-status]");
    if (box) { box.textContent = text; }
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { status(button.getAttribute("data-copied") + " : " + field.value); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
      } else {
        field.select();
        try { if (document.execCommand("copy")) { done(); } } catch (e) { /* the address stays selected */ }
      }
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
}());
