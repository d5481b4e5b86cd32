// The board's live parts: rows replaced in place from the server's event stream, and
// countdowns that tick every second. Rows arrive rendered by the server; nothing here
// decides what a viewer may see.
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }
  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    return h ? h + " h " + pad(m) + " min" : m + ":" + pad(s % 60);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-due]").forEach(function (t) {
      var left = Date.parse(t.dataset.due) - now;
      t.textContent = left > 0 ? "in " + span(left) : "due now";
    });
    document.querySelectorAll("time[data-since]").forEach(function (t) {
      t.textContent = span(now - Date.parse(t.dataset.since));
    });
  }
  tick();
  setInterval(tick, 1000);
  var rows = document.getElementById("board-rows");
  if (!rows || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var source = new EventSource(rows.dataset.events);
  function fromHtml(html) {
    var t = document.createElement("tbody");
    t.innerHTML = html.trim();
    return t.firstElementChild;
  }
  source.addEventListener("ready", function () {
    status.textContent = "Live: changes appear here as they happen.";
    status.dataset.live = "ready";  // the stream is listening (tests wait for it)
  });
  source.addEventListener("case", function (e) {
    var row = fromHtml(e.data), old = document.getElementById(row.id);
    if (old && old.dataset.human === row.dataset.human) { old.replaceWith(row); }
    else {
      if (old) { old.remove(); }
      if (row.dataset.human === "1") { rows.prepend(row); } else { rows.append(row); }
    }
    row.classList.add("changed");
    tick();
  });
  source.addEventListener("gone", function (e) {
    var old = document.getElementById("case-" + e.data);
    if (old) { old.remove(); }
  });
  source.addEventListener("summary", function (e) { document.getElementById("board-summary").innerHTML = e.data; });
  source.addEventListener("loose", function (e) { document.getElementById("loose").innerHTML = e.data; });
  // The feed sections are re-drawn whole; not under the coordinator's focus (a button they
  // are on would vanish), but as soon as focus leaves the section.
  [["feeds", "feeds"], ["asked", "feeds-asked"]].forEach(function (pair) {
    var box = document.getElementById(pair[1]), owed = null;
    if (!box) { return; }
    function draw() {
      if (owed !== null && !box.contains(document.activeElement)) { box.innerHTML = owed; owed = null; }
    }
    box.addEventListener("focusout", function () { setTimeout(draw, 0); });
    source.addEventListener(pair[0], function (e) { owed = e.data; draw(); });
  });
  source.onerror = function () {
    status.textContent = "Reconnecting to live updates…";
    delete status.dataset.live;
  };
})();
