/* The console's shared helpers, as window.OV: the JSON API with the session's CSRF token,
   live updates over server-sent events with a reconnect indicator, and times shown in the
   signed-in person's time zone. Vanilla JavaScript, no framework, nothing fetched elsewhere. */
(function () {
  "use strict";

  var root = document.documentElement;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function timezone() {
    return root.getAttribute("data-timezone") || undefined;
  }

  function role() {
    return root.getAttribute("data-role") || "";
  }

  function canChange() {
    return role() === "supervisor";
  }

  /* An API error: status, code and message as the API said them, and the field at fault. */
  function ApiError(status, code, message, field) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = message;
    this.field = field || null;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /* api("PATCH", "/api/v1/campaigns/7", {cps: 5}) -> Promise of the parsed JSON answer;
     rejects with ApiError. A 401 (the session ended) goes to the sign-in page. */
  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    var upper = method.toUpperCase();
    if (upper !== "GET" && upper !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
    var init = { method: upper, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        if (response.ok) return data;
        var error = (data && data.error) || {};
        if (response.status === 401) {
          var next = encodeURIComponent(location.pathname + location.search);
          location.assign("/dashboard/signin?next=" + next);
        }
        throw new ApiError(response.status, error.code || "http_error",
          error.message || response.statusText || "request failed", error.field);
      });
    });
  }

  /* The indicator in the header: "Live", or "Reconnecting…" while the stream is down. */
  function setLive(state) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.hidden = false;
    el.className = "live " + (state === "open" ? "on" : "off");
    el.textContent = state === "open" ? "Live" : "Reconnecting…";
  }

  /* stream("/dashboard/stream?campaign=7", function (data, event) {...}, {events: ["campaigns"]})
     opens an EventSource; JSON data is parsed before the handler sees it. The browser
     reconnects by itself (the server asks for 2 s); the indicator says so meanwhile.
     Returns a function that closes the stream. */
  function stream(path, onData, options) {
    var opts = options || {};
    var source = new EventSource(path, { withCredentials: true });
    function handle(event) {
      var data = event.data;
      try { data = JSON.parse(event.data); } catch (e) { /* plain text: as sent */ }
      onData(data, event);
    }
    var events = opts.events || ["message"];
    events.forEach(function (name) { source.addEventListener(name, handle); });
    source.addEventListener("open", function () { setLive("open"); });
    source.addEventListener("error", function () {
      setLive("reconnecting");
      if (opts.onError) opts.onError(source);
    });
    return function close() { source.close(); };
  }

  var formatters = {};
  function formatter(kind) {
    if (!formatters[kind]) {
      var options = { timeZone: timezone() };
      if (kind === "time") { options.hour = "2-digit"; options.minute = "2-digit"; }
      else if (kind === "seconds") {
        options.hour = "2-digit"; options.minute = "2-digit"; options.second = "2-digit";
      } else if (kind === "date") { options.dateStyle = "medium"; }
      else { options.dateStyle = "medium"; options.timeStyle = "short"; }
      formatters[kind] = new Intl.DateTimeFormat(undefined, options);
    }
    return formatters[kind];
  }

  /* formatTime(iso or Date, "datetime" | "date" | "time" | "seconds") in the person's zone;
     "" for null. */
  function formatTime(value, kind) {
    if (value === null || value === undefined || value === "") return "";
    var date = value instanceof Date ? value : new Date(value);
    if (isNaN(date.getTime())) return String(value);
    return formatter(kind || "datetime").format(date);
  }

  /* 3725 -> "1 h 2 min"; 45 -> "45 s". */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    var minutes = Math.round(s / 60);
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return hours + " h" + (rest ? " " + rest + " min" : "");
  }

  function formatNumber(n) {
    return n === null || n === undefined ? "" : new Intl.NumberFormat().format(n);
  }

  /* <time datetime="2026-11-23T18:00:00Z" data-format="time"> shows its moment in the
     person's zone; the server's text stays for a browser without JavaScript. */
  function localizeTimes(scope) {
    (scope || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var text = formatTime(el.getAttribute("datetime"), el.getAttribute("data-format"));
      if (text) el.textContent = text;
    });
  }

  /* Controls marked data-supervisor are disabled for a viewer (the API refuses them too). */
  function applyRole(scope) {
    if (canChange()) return;
    (scope || document).querySelectorAll("[data-supervisor]").forEach(function (el) {
      el.disabled = true;
      el.setAttribute("aria-disabled", "true");
      el.title = "Viewers can see this but not change it";
    });
  }

  window.OV = {
    api: api,
    ApiError: ApiError,
    stream: stream,
    setLive: setLive,
    csrfToken: csrfToken,
    timezone: timezone,
    role: role,
    canChange: canChange,
    formatTime: formatTime,
    formatDuration: formatDuration,
    formatNumber: formatNumber,
    localizeTimes: localizeTimes,
    applyRole: applyRole
  };

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    applyRole(document);
  });
})();
