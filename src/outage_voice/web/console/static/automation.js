/* The automation page: each rules section saves its changed fields through
   PUT /api/v1/automation (a 422 is shown beside the field it names); the ledger of an outage
   (GET /api/v1/outages/{id}/notifications); the preview (POST /api/v1/automation/preview). */
(function () {
  "use strict";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function words(value) {
    return String(value).replace(/_/g, " ");
  }

  function table(headers, rows, numeric) {
    var wrap = el("div", null, "table-scroll");
    wrap.tabIndex = 0;  // scrolled sideways from the keyboard on a narrow screen
    var t = el("table");
    var head = el("thead");
    var tr = el("tr");
    headers.forEach(function (h, i) {
      var th = el("th", h);
      th.scope = "col";
      if (numeric && numeric[i]) th.className = "num";
      tr.appendChild(th);
    });
    head.appendChild(tr);
    t.appendChild(head);
    var body = el("tbody");
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (value, i) {
        var td = el("td", null, numeric && numeric[i] ? "num" : "");
        if (value instanceof Node) td.appendChild(value); else td.textContent = value === null || value === undefined ? "–" : String(value);
        row.appendChild(td);
      });
      body.appendChild(row);
    });
    t.appendChild(body);
    wrap.appendChild(t);
    return wrap;
  }

  function timeNode(iso) {
    if (!iso) return "–";
    var t = el("time", OV.formatTime(iso, "datetime"));
    t.setAttribute("datetime", iso);
    return t;
  }

  function skipped(map) {
    var keys = Object.keys(map || {});
    if (!keys.length) return "–";
    return keys.map(function (k) { return words(k) + ": " + OV.formatNumber(map[k]); }).join(", ");
  }

  /* --- errors beside fields ---------------------------------------------------------- */

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
  }

  /* Shows the API's message next to the control for `field` (a dotted path, perhaps with
     an index: acknowledge.on[0]); the nearest enclosing path that has a control otherwise.
     Returns whether a place was found. */
  function showFieldError(form, idOf, field, message) {
    var path = String(field || "").replace(/\[\d+\]$/, "");
    while (path) {
      var control = document.getElementById(idOf(path));
      if (control && form.contains(control)) {
        var slot = document.getElementById(control.id + "-error");
        var label = control.tagName === "FIELDSET" ? control.querySelector("legend")
          : form.querySelector('label[for="' + control.id + '"]') || control.closest("label");
        if (slot) slot.textContent = (label ? label.textContent.trim() + ": " : "") + message;
        control.setAttribute("aria-invalid", "true");
        var focusable = control.tagName === "FIELDSET" ? control.querySelector("input") : control;
        if (focusable) focusable.focus();
        return true;
      }
      var cut = path.lastIndexOf(".");
      path = cut < 0 ? "" : path.slice(0, cut);
    }
    return false;
  }

  /* --- rules ------------------------------------------------------------------------- */

  function ruleId(path) { return "rule-" + path.replace(/\./g, "-"); }

  function readControl(node) {
    var kind = node.getAttribute("data-kind");
    if (kind === "bool") return node.checked;
    if (kind === "choices") {
      return Array.prototype.filter.call(node.querySelectorAll("input[type=checkbox]"),
        function (box) { return box.checked; }).map(function (box) { return box.value; });
    }
    var raw = node.value.trim();
    if (kind === "int" || kind === "number") {
      // Sent as typed: the API says what is wrong with a number that is not one.
      if (raw === "" || isNaN(Number(raw))) return raw;
      return Number(raw);
    }
    return raw;
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function setPath(target, path, value) {
    var parts = path.split(".");
    var node = target;
    for (var i = 0; i < parts.length - 1; i++) {
      node[parts[i]] = node[parts[i]] || {};
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  function getPath(doc, path) {
    return path.split(".").reduce(function (node, part) {
      return node === undefined || node === null ? undefined : node[part];
    }, doc);
  }

  function markChanged(node, value) {
    var flag = document.querySelector('[data-changed-for="' + node.id + '"]');
    if (flag) flag.hidden = same(value, JSON.parse(node.getAttribute("data-default")));
  }

  function saveSection(form) {
    var section = form.getAttribute("data-section");
    var status = document.getElementById("status-" + section);
    clearErrors(form);
    var patch = {};
    var changed = 0;
    form.querySelectorAll("[data-path]").forEach(function (node) {
      var value = readControl(node);
      if (!same(value, JSON.parse(node.getAttribute("data-initial")))) {
        setPath(patch, node.getAttribute("data-path"), value);
        changed += 1;
      }
    });
    if (!changed) { status.textContent = "Nothing changed."; return; }
    status.textContent = "Saving…";
    var button = document.getElementById("save-" + section);
    button.disabled = true;
    OV.api("PUT", "/api/v1/automation", patch).then(function (rules) {
      form.querySelectorAll("[data-path]").forEach(function (node) {
        var now = getPath(rules, node.getAttribute("data-path"));
        if (now === undefined) return;
        node.setAttribute("data-initial", JSON.stringify(now));
        markChanged(node, now);
      });
      status.textContent = "Saved " + OV.formatTime(new Date(), "seconds") + ".";
    }, function (error) {
      var placed = error.status === 422 && showFieldError(form, ruleId, error.field, error.message);
      status.textContent = placed ? "Not saved: see the field marked." : "Not saved: " + error.message + ".";
    }).then(function () { button.disabled = !OV.canChange(); });
  }

  /* --- the ledger -------------------------------------------------------------------- */

  function showLedger(event) {
    if (event) event.preventDefault();
    var form = document.getElementById("ledger-form");
    var result = document.getElementById("ledger-result");
    var status = document.getElementById("ledger-status");
    clearErrors(form);
    var outage = document.getElementById("ledger-outage").value.trim();
    var account = document.getElementById("ledger-account").value.trim();
    if (!outage) {
      showFieldError(form, function () { return "ledger-outage"; }, "outage", "is required");
      return;
    }
    var path = "/api/v1/outages/" + encodeURIComponent(outage) + "/notifications";
    if (account) path += "?account=" + encodeURIComponent(account);
    status.textContent = "Reading…";
    OV.api("GET", path).then(function (ledger) {
      status.textContent = "";
      result.replaceChildren(renderLedger(ledger));
      if (history.replaceState) {
        history.replaceState(null, "", "?outage=" + encodeURIComponent(outage) + "#ledger");
      }
    }, function (error) {
      result.replaceChildren();
      var placed = error.status === 422 && showFieldError(form,
        function (f) { return f === "account" ? "ledger-account" : "ledger-outage"; },
        error.field || "outage", error.message);
      status.textContent = placed ? "" : error.message + ".";
    });
  }

  function renderLedger(ledger) {
    var box = el("div", null, "ledger");
    var triggers = Object.keys(ledger.counts);
    box.appendChild(el("h3", "Outage " + ledger.outage_id));
    if (!triggers.length && !ledger.decisions.length) {
      box.appendChild(el("p", "Nothing has been sent or decided for this outage.", "muted"));
      return box;
    }
    box.appendChild(el("p", OV.formatNumber(ledger.pending) + " calls still to be made."));
    box.appendChild(table(["Message", "Sent", "Reached", "Waiting", "Left out"],
      triggers.map(function (t) {
        var c = ledger.counts[t];
        return [words(t), OV.formatNumber(c.sent), OV.formatNumber(c.reached),
          OV.formatNumber(c.pending), skipped(c.skipped)];
      }), [false, true, true, true, false]));
    if (ledger.campaigns.length) {
      var p = el("p", "Campaigns: ");
      ledger.campaigns.forEach(function (id, i) {
        if (i) p.appendChild(document.createTextNode(", "));
        var a = el("a", "#" + id);
        a.href = "/dashboard/campaigns/" + encodeURIComponent(id);
        p.appendChild(a);
      });
      box.appendChild(p);
    }
    if (ledger.decisions.length) {
      box.appendChild(el("h4", "Decisions"));
      box.appendChild(table(["When", "Event", "Decision", "Why"],
        ledger.decisions.map(function (d) {
          return [timeNode(d.at), words(d.event), words(d.verdict), d.reason];
        })));
    }
    if (ledger.lines) {
      box.appendChild(el("h4", "Account " + ledger.account));
      box.appendChild(table(["Message", "Number", "State", "Outcome", "Attempts", "Last call"],
        ledger.lines.map(function (l) {
          return [words(l.trigger), l.phone, words(l.state), l.outcome ? words(l.outcome) : "–",
            l.attempts, timeNode(l.last_call_at)];
        }), [false, false, false, false, true, false]));
    }
    return box;
  }

  /* --- the preview ------------------------------------------------------------------- */

  /* "2026-11-30T18:00" read as a wall time in the person's zone, as an ISO instant. */
  function zonedToIso(wall) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(wall);
    if (!m) return wall;
    var asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    var parts = new Intl.DateTimeFormat("en-US", {
      timeZone: OV.timezone(), hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"
    });
    var guess = asUtc;
    for (var i = 0; i < 2; i++) {
      var p = {};
      parts.formatToParts(new Date(guess)).forEach(function (x) { p[x.type] = x.value; });
      var shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
      guess = asUtc - (shown - guess);
    }
    return new Date(guess).toISOString();
  }

  function idList(raw) {
    return raw.split(/[\s,]+/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function previewBody() {
    var value = function (id) { return document.getElementById("preview-" + id).value.trim(); };
    var state = { status: value("status") };
    if (document.getElementById("preview-planned").checked) state.planned = true;
    ["etr", "starts_at", "ends_at"].forEach(function (name) {
      if (value(name)) state[name] = zonedToIso(value(name));
    });
    var premises = idList(value("premise_ids"));
    var feeders = idList(value("feeder_ids"));
    if (premises.length || !feeders.length) state.premise_ids = premises;
    if (feeders.length) state.feeder_ids = feeders;
    if (value("cause")) state.cause = value("cause");
    var customers = value("customers_affected");
    if (customers) state.customers_affected = isNaN(Number(customers)) ? customers : Number(customers);
    return { outage_id: value("outage_id"), state: state };
  }

  function runPreview(event) {
    event.preventDefault();
    var form = document.getElementById("preview-form");
    var result = document.getElementById("preview-result");
    var status = document.getElementById("preview-status-line");
    clearErrors(form);
    status.textContent = "Working it out…";
    OV.api("POST", "/api/v1/automation/preview", previewBody()).then(function (preview) {
      status.textContent = "";
      result.replaceChildren(renderPreview(preview));
    }, function (error) {
      result.replaceChildren();
      var field = String(error.field || "").replace(/^state\.?/, "") || "status";
      var placed = error.status === 422 && showFieldError(form,
        function (f) { return "preview-" + f; }, field, error.message);
      status.textContent = placed ? "See the field marked." : error.message + ".";
    });
  }

  function renderPreview(preview) {
    var box = el("div", null, "preview");
    box.appendChild(el("h3", "If outage " + preview.outage_id + " changed so now"));
    if (!preview.messages.length) {
      box.appendChild(el("p", "Nothing would be sent.", "muted"));
    } else {
      box.appendChild(table(["Message", "Sends", "Calls", "Left out", "Takes about"],
        preview.messages.map(function (m) {
          return [words(m.trigger), m.sends_at ? timeNode(m.sends_at) : "now",
            OV.formatNumber(m.calls), skipped(m.skipped), OV.formatDuration(m.estimated_duration_s)];
        }), [false, false, true, false, false]));
    }
    var withdrawn = Object.keys(preview.withdrawn || {});
    if (withdrawn.length) box.appendChild(el("p", "Calls withdrawn: " + skipped(preview.withdrawn) + "."));
    if (preview.decisions.length) {
      box.appendChild(el("h4", "Why"));
      box.appendChild(table(["Event", "Decision", "Why"], preview.decisions.map(function (d) {
        return [words(d.event), words(d.verdict), d.reason];
      })));
    }
    return box;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.rules").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (OV.canChange()) saveSection(form);
      });
      form.addEventListener("input", function (event) {
        var node = event.target.closest("[data-path]");
        if (node) { node.removeAttribute("aria-invalid"); markChanged(node, readControl(node)); }
      });
    });
    var ledger = document.getElementById("ledger-form");
    if (ledger) {
      ledger.addEventListener("submit", showLedger);
      if (document.getElementById("ledger-outage").value.trim()) showLedger();
    }
    var preview = document.getElementById("preview-form");
    if (preview) preview.addEventListener("submit", runPreview);
  });
})();
