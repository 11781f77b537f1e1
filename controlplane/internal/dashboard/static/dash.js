// edgeplane dashboard: re-renders the page's live region every data-refresh ms by asking the
// same URL for JSON ({"html": ...}, rendered and escaped by the server). Pauses while the tab
// is hidden and after an error; a 401 sends the visitor to log in. No other requests.
"use strict";
(function () {
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !live.dataset.refresh) { return; }
  var every = Math.max(500, parseInt(live.dataset.refresh, 10) || 2000);
  var busy = false;

  function say(text) { if (status) { status.textContent = text; } }

  function tick() {
    if (busy || document.hidden) { return; }
    var active = document.activeElement;
    if (active && live.contains(active) && (active.tagName === "INPUT" || active.tagName === "BUTTON")) { return; }
    busy = true;
    fetch(location.pathname + location.search, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (res.status === 401) { location.assign("/ui/login"); return null; }
        return res.json().then(function (body) {
          if (!res.ok) { throw new Error(body.error || res.statusText); }
          return body;
        });
      })
      .then(function (body) {
        if (!body) { return; }
        live.innerHTML = body.html;
        say("live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function (err) { say("live updates paused: " + err.message); })
      .finally(function () { busy = false; });
  }

  say("live");
  setInterval(tick, every);
})();
