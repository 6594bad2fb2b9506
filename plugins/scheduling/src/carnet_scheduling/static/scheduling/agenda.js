// Agenda behaviour: the booking/appointment dialog, keyboard navigation in the grid, shortcuts
// (← → previous/next, T today), closing and refreshing after a change. Served from our origin (CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var opener = null;

  function dialog() { return document.getElementById("sched-dialog"); }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(el.tagName));
  }

  // Remember what opened the dialog, to give focus back when it closes.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-body" && !(dialog() && dialog().open)) { opener = event.detail.elt; }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "dialog-body") { return; }
    var d = dialog();
    if (d && !d.open) { d.showModal(); }
    var focus = target.querySelector("[autofocus]") || target.querySelector("[aria-invalid=true], .field-error + input") ||
      target.querySelector("input:not([type=hidden]), select, textarea, button, a[href]");
    if (focus) { focus.focus(); }
  });

  // After a successful change the server answers 204 with HX-Trigger: scheduling-changed.
  document.body.addEventListener("scheduling-changed", function () {
    var d = dialog();
    if (d && d.open) { d.close(); }
  });

  document.addEventListener("close", function (event) {
    if (event.target === dialog()) {
      var body = document.getElementById("dialog-body");
      if (body) { body.innerHTML = ""; }
      if (opener && document.contains(opener)) { opener.focus(); }
      else {
        var grid = document.querySelector(".grid [tabindex='0']");
        if (grid) { grid.focus(); }
      }
      opener = null;
    }
  }, true);

  // Links that close the dialog must not navigate while it is open.
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("a[data-close-dialog]");
    if (closer && closer.closest("dialog[open]")) { event.preventDefault(); }
    var printer = event.target.closest("[data-print]");
    if (printer) { window.print(); }
  });

  // Clicking outside the dialog box (on the backdrop) closes it.
  document.addEventListener("mousedown", function (event) {
    var d = dialog();
    if (d && d.open && event.target === d) { d.close(); }
  });

  // The type's duration fills the duration placeholder.
  document.addEventListener("change", function (event) {
    if (event.target.id === "b-type") {
      var opt = event.target.selectedOptions[0];
      var dur = document.getElementById("b-duration");
      if (opt && dur && !dur.value) { dur.placeholder = opt.getAttribute("data-duration") + " min"; }
    }
  });

  // Arrow keys move between cells and appointments of the grid (one tab stop for the grid).
  function gridItem(grid, row, col) {
    return grid.querySelector('[data-row="' + row + '"][data-col="' + col + '"]');
  }
  function nearest(grid, row, col, dr) {
    for (var r = row; r > 1 && r < 200; r += dr) {
      var found = gridItem(grid, r, col);
      if (found) { return found; }
      var appts = grid.querySelectorAll('.appt[data-col="' + col + '"]');
      for (var i = 0; i < appts.length; i++) {
        var start = +appts[i].getAttribute("data-row");
        var span = +(appts[i].className.match(/\bs-(\d+)/) || [0, 1])[1];
        if (r >= start && r < start + span) { return appts[i]; }
      }
    }
    return null;
  }
  function roving(grid) {
    var items = grid.querySelectorAll("[data-row]");
    if (!items.length) { return; }
    var first = grid.querySelector(".appt") || grid.querySelector(".cell.open") || items[0];
    items.forEach(function (el) { el.setAttribute("tabindex", el === first ? "0" : "-1"); });
  }
  document.addEventListener("keydown", function (event) {
    var el = document.activeElement;
    var grid = el && el.closest && el.closest(".grid");
    if (grid && el.hasAttribute("data-row") && !event.altKey && !event.ctrlKey && !event.metaKey) {
      var row = +el.getAttribute("data-row"), col = +el.getAttribute("data-col"), next = null;
      if (el.classList.contains("appt") && event.key === "ArrowDown") {
        row += +(el.className.match(/\bs-(\d+)/) || [0, 1])[1] - 1;
      }
      if (event.key === "ArrowDown") { next = nearest(grid, row + 1, col, 1); }
      else if (event.key === "ArrowUp") { next = nearest(grid, row - 1, col, -1); }
      else if (event.key === "ArrowRight") { next = nearest(grid, row, col + 1, -1); }
      else if (event.key === "ArrowLeft" && col > 2) { next = nearest(grid, row, col - 1, -1); }
      if (next) {
        event.preventDefault();
        el.setAttribute("tabindex", "-1");
        next.setAttribute("tabindex", "0");
        next.focus();
      }
      return;
    }
    if (typing(el) || event.altKey || event.ctrlKey || event.metaKey || (dialog() && dialog().open)) { return; }
    var name = { ArrowLeft: "prev", ArrowRight: "next", t: "today", T: "today" }[event.key];
    var link = name && document.querySelector('[data-shortcut="' + name + '"]');
    if (link) { event.preventDefault(); link.click(); }
  });

  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".grid").forEach(roving);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.detail.elt.parentNode || document); });
})();
