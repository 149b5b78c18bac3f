// Member Day countdown: ticks the "starts in" line every minute from the seconds the server sent.
(function () {
  "use strict";
  function tick() {
    var el = document.querySelector("[data-testid=countdown]");
    if (!el) { return; }
    var left = parseInt(el.dataset.seconds, 10);
    if (isNaN(left)) { return; }
    if (!el.dataset.until) { el.dataset.until = String(Date.now() + left * 1000); }
    var s = Math.max(0, Math.round((parseInt(el.dataset.until, 10) - Date.now()) / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    el.textContent = el.dataset.template.replace("%(d)s", d).replace("%(h)s", h).replace("%(m)s", m);
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 30000);
})();
