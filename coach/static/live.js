// Follows a live page (docs/web.md): asks data-live-url for its changing part every
// data-interval ms with If-None-Match, swaps it in when it changed (200), keeps it on 304, and
// stops once the part says nothing more will change (no data-live-url in the new part's page
// state: the server marks a final part with data-final).
(function () {
  "use strict";
  var box = document.querySelector("[data-live-url]");
  if (!box) { return; }
  var etag = box.getAttribute("data-etag");
  var every = Number(box.getAttribute("data-interval")) || 1000;
  var fetchedAt = Date.now();

  function showLag() {
    var el = document.getElementById("lag");
    if (!el) { return; }
    var s = Number(el.getAttribute("data-lag")) + (Date.now() - fetchedAt) / 1000;
    el.textContent = s < 120 ? Math.round(s) + " s ago" : Math.round(s / 60) + " min ago";
  }

  function tick() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(box.getAttribute("data-live-url"), { headers: headers, cache: "no-store",
                                               credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 200) {
          etag = r.headers.get("ETag");
          return r.text().then(function (html) {
            box.innerHTML = html;
            fetchedAt = Date.now();
            return box.querySelector("[data-final]") === null;
          });
        }
        return r.status === 304 || r.status >= 500;   // 4xx: signed out or gone, stop
      })
      .catch(function () { return true; })   // server away: keep trying
      .then(function (goOn) {
        showLag();
        if (goOn) { setTimeout(tick, every); }
      });
  }
  setTimeout(tick, every);
  setInterval(showLag, 1000);
})();
