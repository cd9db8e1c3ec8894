/* The outage-line page: reads GET /api/v1/outage-line every few seconds (the server reads the
   database at most once per 5 s for every console watching) and updates the figures. */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var OUTCOMES = ["self_served", "reported", "transferred", "callback_requested", "abandoned"];
  var CONTAINED = ["self_served", "reported", "callback_requested"];
  var timer = null;
  var busy = false;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) el.hidden = !visible;
  }

  function percent(n, total) {
    return total ? Math.round((100 * n) / total) + " %" : "–";
  }

  function cell(tag, content, className) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (content instanceof Node) el.appendChild(content);
    else el.textContent = content === null || content === undefined ? "–" : String(content);
    return el;
  }

  function timeEl(iso, format) {
    var el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.textContent = OV.formatTime(iso, format);
    return el;
  }

  function badge(label, className) {
    var el = document.createElement("span");
    el.className = "badge " + (className || "");
    el.textContent = label;
    return el;
  }

  function emptyRow(body, columns, message) {
    var row = document.createElement("tr");
    row.className = "empty";
    var td = cell("td", message, "muted");
    td.colSpan = columns;
    row.appendChild(td);
    body.appendChild(row);
  }

  function renderTop(top) {
    var body = document.querySelector("#ol-top-outages tbody");
    body.replaceChildren();
    top.outages.forEach(function (outage) {
      var row = document.createElement("tr");
      var link = document.createElement("a");
      link.href = "/dashboard/automation?outage=" + encodeURIComponent(outage.outage_id) + "#ledger";
      link.textContent = outage.outage_id;
      var first = cell("td", link);
      if (outage.planned) { first.appendChild(document.createTextNode(" ")); first.appendChild(badge("planned")); }
      row.appendChild(first);
      row.appendChild(cell("td", outage.status.replace(/_/g, " ")));
      row.appendChild(cell("td", outage.etr ? timeEl(outage.etr, "datetime") : "–"));
      row.appendChild(cell("td", outage.customers_affected === null ? "–" : OV.formatNumber(outage.customers_affected), "num wide-only"));
      row.appendChild(cell("td", OV.formatNumber(outage.calls), "num"));
      body.appendChild(row);
    });
    if (!top.outages.length) emptyRow(body, 5, "No calls about an active outage in the last hour.");
  }

  function renderInstances(live, silent) {
    var body = document.querySelector("#ol-instances tbody");
    body.replaceChildren();
    live.concat(silent).forEach(function (item, index) {
      var isSilent = index >= live.length;
      var row = document.createElement("tr");
      if (isSilent) row.className = "silent";
      var who = cell("td", item.host + " ");
      var detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = "pid " + item.pid + " · " + item.version;
      who.appendChild(detail);
      row.appendChild(who);
      var state = isSilent ? badge("silent", "state-failed")
        : item.degraded ? badge("degraded", "state-failed") : badge("normal", "state-running");
      var stateCell = cell("td", state);
      if (item.leader) { stateCell.appendChild(document.createTextNode(" ")); stateCell.appendChild(badge("leader")); }
      row.appendChild(stateCell);
      row.appendChild(cell("td", OV.formatNumber(item.spool_depth), "num"));
      row.appendChild(cell("td", item.webhooks_per_s, "num wide-only"));
      row.appendChild(cell("td", timeEl(item.seen_at, "seconds")));
      body.appendChild(row);
    });
    if (!live.length && !silent.length) emptyRow(body, 5, "No instance has reported in the last hour.");
  }

  function render(line) {
    var today = line.today;
    text("ol-in-ivr", OV.formatNumber(line.in_ivr));
    text("ol-webhooks", line.webhooks_per_s);
    text("ol-calls-today", OV.formatNumber(today.calls));
    var contained = CONTAINED.reduce(function (sum, o) { return sum + (today.by_outcome[o] || 0); }, 0);
    text("ol-contained-share", percent(contained, today.calls));
    OUTCOMES.forEach(function (outcome) {
      var n = today.by_outcome[outcome] || 0;
      text("ol-outcome-" + outcome, OV.formatNumber(n));
      text("ol-share-" + outcome, percent(n, today.calls));
      var bar = document.getElementById("ol-bar-" + outcome);
      if (bar) bar.style.width = (today.calls ? (100 * n) / today.calls : 0) + "%";
    });
    var updated = document.getElementById("ol-updated");
    updated.setAttribute("datetime", line.at);
    updated.textContent = OV.formatTime(line.at, "seconds");
    var tallied = document.getElementById("ol-tallied");
    tallied.setAttribute("datetime", today.read_at);
    tallied.textContent = OV.formatTime(today.read_at, "seconds");
    var dayStart = document.getElementById("ol-day-start");
    dayStart.setAttribute("datetime", today.since);
    dayStart.textContent = OV.formatTime(today.since, "datetime");
    show("ol-degraded", line.degraded);
    text("ol-spool-total", OV.formatNumber(line.spool_depth));
    show("ol-spooled", line.spool_depth > 0);
    show("ol-no-leader", !line.leader && line.instances.length > 0);
    renderTop(line.top_outages);
    renderInstances(line.instances, line.silent_instances);
  }

  function refresh() {
    timer = null;
    if (busy || document.hidden) return;  // hidden: resumed by visibilitychange
    busy = true;
    OV.api("GET", "/api/v1/outage-line").then(function (line) {
      text("ol-refresh-error", "");
      OV.setLive("open");
      render(line);
    }, function (error) {
      OV.setLive("reconnecting");
      text("ol-refresh-error", "Not refreshed: " + error.message + ". Trying again.");
    }).then(done, done);
  }

  function done() {
    busy = false;
    schedule();
  }

  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("ol-in-ivr")) return;
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null) refresh();
    });
    schedule();
  });
})();
