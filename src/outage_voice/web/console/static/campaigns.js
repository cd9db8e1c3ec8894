/* The campaign pages: "campaigns now" and one campaign kept current by the live stream,
   pacing and run controls through the JSON API, and the new-campaign form with its
   estimate. Uses window.OV (console.js) and window.OVChart (chart.js). */
(function () {
  "use strict";

  var OUTCOME_WORDS = {
    pause: "Pause", resume: "Resume", cancel: "Cancel campaign", start: "Start"
  };

  function byId(id) { return document.getElementById(id); }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function n(value) { return OV.formatNumber(value || 0); }

  function eta(seconds) {
    return seconds === null || seconds === undefined ? "–" : OV.formatDuration(seconds);
  }

  function finished(progress) {
    return (progress.by_state.done || 0) + (progress.by_state.excluded || 0);
  }

  function unreached(outcomes) {
    return (outcomes.busy || 0) + (outcomes.no_answer || 0) + (outcomes.failed || 0) +
      (outcomes.lost || 0);
  }

  function origin(c) {
    if (c.automatic && c.trigger) {
      return "automatic, outage " + c.trigger.outage_id + " (" + c.trigger.event + ")";
    }
    return "manual" + (c.outage_id ? ", outage " + c.outage_id : "");
  }

  function signedOut() {
    var next = encodeURIComponent(location.pathname + location.search);
    location.assign("/dashboard/signin?next=" + next);
  }

  /* ---- campaigns now ------------------------------------------------------------------ */

  function cardFor(list, c, kinds) {
    var card = list.querySelector('li[data-id="' + c.id + '"]');
    if (card) return card;
    card = document.createElement("li");
    card.className = "card campaign";
    card.setAttribute("data-id", c.id);
    card.id = "campaign-" + c.id;
    var head = document.createElement("div");
    head.className = "campaign-head";
    var h2 = document.createElement("h2");
    var link = document.createElement("a");
    link.href = "/dashboard/campaigns/" + c.id;
    link.setAttribute("data-field", "name");
    h2.appendChild(link);
    var state = document.createElement("span");
    state.setAttribute("data-field", "state");
    head.appendChild(h2);
    head.appendChild(state);
    card.appendChild(head);
    var kind = document.createElement("p");
    kind.className = "muted kind";
    var kindText = document.createElement("span");
    kindText.setAttribute("data-field", "kind");
    var originText = document.createElement("span");
    originText.setAttribute("data-field", "origin");
    kind.appendChild(kindText);
    kind.appendChild(document.createTextNode(" · "));
    kind.appendChild(originText);
    card.appendChild(kind);
    var bar = document.createElement("progress");
    bar.setAttribute("data-field", "bar");
    card.appendChild(bar);
    var dl = document.createElement("dl");
    dl.className = "figures";
    [["done", "Done"], ["cps", "Calls/s"], ["live", "Live calls"], ["reached", "Reached"],
     ["voicemail", "Voicemail"], ["unreached", "Not reached"], ["eta", "Time left"]]
      .forEach(function (pair) {
        var div = document.createElement("div");
        var dt = document.createElement("dt");
        dt.textContent = pair[1];
        var dd = document.createElement("dd");
        dd.setAttribute("data-field", pair[0]);
        div.appendChild(dt);
        div.appendChild(dd);
        dl.appendChild(div);
      });
    card.appendChild(dl);
    return card;
  }

  function fillCard(card, c, kinds) {
    var p = c.progress;
    function field(name) { return card.querySelector('[data-field="' + name + '"]'); }
    setText(field("name"), c.name);
    var state = field("state");
    setText(state, c.state);
    state.className = "badge state-" + c.state;
    setText(field("kind"), kinds[c.kind] || c.kind);
    setText(field("origin"), origin(c));
    var bar = field("bar");
    bar.max = Math.max(p.targets, 1);
    bar.value = finished(p);
    bar.setAttribute("aria-label", "Progress of " + c.name);
    setText(bar, n(finished(p)) + " of " + n(p.targets));
    setText(field("done"), n(finished(p)) + " of " + n(p.targets));
    setText(field("cps"), p.current_cps + " of " + c.pacing.cps);
    setText(field("live"), n(p.live_calls) + " of " + n(c.pacing.max_concurrent));
    setText(field("reached"), n(p.outcomes.reached));
    setText(field("voicemail"), n(p.outcomes.voicemail));
    setText(field("unreached"), n(unreached(p.outcomes)));
    setText(field("eta"), eta(p.eta_s));
  }

  function campaignsPage(list) {
    var kinds = JSON.parse(list.getAttribute("data-kinds") || "{}");
    // The server's first paint, its times and durations in the person's words.
    list.querySelectorAll('[data-field="eta"]').forEach(function (dd) {
      var s = dd.getAttribute("data-seconds");
      dd.textContent = s === "" ? "–" : OV.formatDuration(Number(s));
    });
    live("/dashboard/stream", function (data) {
      var seen = {};
      data.campaigns.forEach(function (c, index) {
        var card = cardFor(list, c, kinds);
        fillCard(card, c, kinds);
        seen[c.id] = true;
        // Newest first, as the server lists them; a card keeps its node (and focus).
        if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
      });
      Array.prototype.slice.call(list.children).forEach(function (card) {
        if (!seen[card.getAttribute("data-id")]) list.removeChild(card);
      });
      byId("campaigns-empty").hidden = data.campaigns.length > 0;
      setText(byId("campaigns-updated"), "Updated " + OV.formatTime(data.at, "seconds") + ".");
    });
  }

  /* The live stream, reopened whatever ends it: the browser retries a dropped connection by
     itself, but gives up on an answer that is not a stream (a proxy's 502 during a restart,
     the sign-in page once the session has ended). Then the session is checked (a 401 goes
     to the sign-in page) and the stream opened again a little later.
     A hidden tab holds no stream: over HTTP/1.1 a browser opens at most 6 connections to a
     host across all its tabs, and six open streams would leave none for a pause or a pacing
     change. The stream closes when the tab is hidden and opens again, with the newest
     numbers at once, when it is shown. */
  function live(path, onUpdate) {
    var close = null;
    var retry = null;
    function open() {
      retry = null;
      if (close || document.hidden) return;
      close = OV.stream(path, function (data, event) {
        if (event.type === "signedout") { signedOut(); return; }
        // This session opened newer streams elsewhere: this one opens again when shown.
        if (event.type === "superseded") { shut(); OV.setLive("closed"); return; }
        onUpdate(data);
      }, {
        events: ["update", "signedout", "superseded"],
        onError: function (source) {
          if (source.readyState !== 2) return;  // CONNECTING: the browser retries itself
          shut();
          OV.api("GET", "/api/v1/automation").catch(function () {})
            .then(function () { if (!retry) retry = setTimeout(open, 2000); });
        }
      });
    }
    function shut() {
      if (close) { close(); close = null; }
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        shut();
        if (retry) { clearTimeout(retry); retry = null; }
      } else {
        open();
      }
    });
    window.addEventListener("pagehide", shut);
    window.addEventListener("pageshow", open);  // back from the back/forward cache
    open();
  }

  /* ---- one campaign ------------------------------------------------------------------- */

  /* "00:00-00:00" is a window always open. */
  function windowWords(span) {
    var ends = String(span || "").split("-");
    if (ends.length !== 2 || ends[0] === ends[1]) return "at any hour.";
    return "between " + ends[0] + " and " + ends[1] + " in each customer's time.";
  }

  var START_ERROR = "ov-start-error-";

  function campaignPage(page) {
    var id = page.getAttribute("data-id");
    var svg = byId("cps-chart");
    function attr(name) { return page.getAttribute("data-" + name); }
    // As the server rendered it; the stream keeps it current.
    var current = { state: attr("state"), pending: Number(attr("pending")),
      live: Number(attr("live")), cps: Number(attr("cps")),
      max_concurrent: Number(attr("max-concurrent")), window: attr("window"),
      urgent: attr("urgent") === "true" };
    var dialog = byId("confirm-dialog");
    var pendingAction = null;
    var slider = byId("pacing-cps");
    var sliderOut = byId("pacing-cps-value");
    var editing = false;

    byId("fig-eta").textContent = eta(
      byId("fig-eta").getAttribute("data-seconds") === "" ? null :
        Number(byId("fig-eta").getAttribute("data-seconds")));
    OVChart.draw(svg, { cps: [], bucket_s: Number(page.getAttribute("data-chart-bucket-s")) },
      Number(byId("cap-cps").textContent));

    function showState(state) {
      current.state = state;
      page.setAttribute("data-state", state);
      var badge = byId("campaign-state");
      setText(badge, state);
      badge.className = "badge state-" + state;
      byId("action-start").hidden = state !== "draft";
      byId("action-pause").hidden = state !== "running";
      byId("action-resume").hidden = state !== "paused";
      byId("action-cancel").hidden = state === "completed" || state === "cancelled";
    }

    function showDetail(c) {
      if (!c || c.missing) return;
      var p = c.progress;
      showState(c.state);
      current.pending = p.by_state.pending;
      current.live = p.live_calls;
      current.cps = c.pacing.cps;
      current.max_concurrent = c.pacing.max_concurrent;
      current.window = c.pacing.window;
      current.urgent = c.pacing.urgent;
      var bar = byId("campaign-progress");
      bar.max = Math.max(p.targets, 1);
      bar.value = finished(p);
      setText(bar, n(finished(p)) + " of " + n(p.targets));
      setText(byId("fig-done"), n(finished(p)) + " of " + n(p.targets));
      setText(byId("fig-pending"), n(p.by_state.pending));
      setText(byId("fig-live"), n(p.live_calls) + " of " + n(c.pacing.max_concurrent));
      setText(byId("fig-eta"), eta(p.eta_s));
      setText(byId("now-cps"), String(p.current_cps));
      setText(byId("cap-cps"), String(c.pacing.cps));
      var rows = byId("outcomes-table").tBodies[0];
      Object.keys(p.outcomes).forEach(function (name) {
        var row = rows.querySelector('tr[data-outcome="' + name + '"]');
        if (row) setText(row.querySelector("[data-count]"), n(p.outcomes[name]));
      });
      Object.keys(p.excluded).forEach(function (name) {
        var row = rows.querySelector('tr[data-excluded="' + name + '"]');
        if (!row) {
          row = document.createElement("tr");
          row.setAttribute("data-excluded", name);
          var label = document.createElement("td");
          label.textContent = "left out: " + name.replace(/_/g, " ");
          var count = document.createElement("td");
          count.setAttribute("data-count", "");
          row.appendChild(label);
          row.appendChild(count);
          rows.appendChild(row);
        }
        setText(row.querySelector("[data-count]"), n(p.excluded[name]));
      });
      OVChart.draw(svg, c.chart, c.pacing.cps);
      var w = c.waiting;
      setText(byId("fig-retries"), n(w.retries));
      setText(byId("fig-next-retry"), w.next_retry_at ? OV.formatTime(w.next_retry_at, "time") : "–");
      setText(byId("fig-out-of-window"), n(w.out_of_window));
      setText(byId("fig-next-window"),
        w.next_window_at ? OV.formatTime(w.next_window_at, "datetime") : "–");
      var due = byId("retries-due");
      while (due.firstChild) due.removeChild(due.firstChild);
      if (!w.retries_due.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = "None waiting.";
        due.appendChild(none);
      }
      w.retries_due.forEach(function (entry) {
        var li = document.createElement("li");
        li.textContent = OV.formatTime(entry.at, "time") + ": " + n(entry.targets);
        due.appendChild(li);
      });
      if (!editing && document.activeElement !== slider) {
        slider.value = c.pacing.cps;
        setText(sliderOut, String(c.pacing.cps));
      }
    }

    live("/dashboard/stream?campaign=" + encodeURIComponent(id), function (data) {
      showDetail(data.campaign);
    });

    /* What each action will do, said before it is done. */
    function consequence(action) {
      var left = n(current.pending) + (current.pending === 1 ? " number" : " numbers");
      var live = n(current.live) + (current.live === 1 ? " call" : " calls");
      if (action === "pause") {
        return "Pausing stops new calls; the " + live + " in progress finish. The " + left +
          " not called yet wait until you resume.";
      }
      if (action === "resume") {
        return "Resuming places calls again at " + current.cps + " calls per second, " +
          n(current.max_concurrent) + " at most at once, to the " + left + " not called yet.";
      }
      if (action === "start") {
        return "Starting calls " + left + " at " + current.cps + " calls per second, " +
          n(current.max_concurrent) + " at most at once, " +
          (current.urgent ? "at any hour (urgent)." : windowWords(current.window));
      }
      return "Cancelling ends this campaign for good: the " + left + " not called yet will " +
        "not be called, calls still ringing are hung up, and answered calls finish their " +
        "message. This cannot be undone.";
    }

    // A start that failed from the new-campaign form: the draft is here, and so is why.
    var startError = null;
    try {
      startError = sessionStorage.getItem(START_ERROR + id);
      sessionStorage.removeItem(START_ERROR + id);
    } catch (e) { /* storage refused: nothing to show */ }
    if (startError) {
      byId("action-status").className = "error";
      setText(byId("action-status"), "Saved as a draft, not started: " + startError);
    }

    function act(action) {
      var status = byId("action-status");
      status.className = "";
      setText(status, "Working…");
      OV.api("POST", "/api/v1/campaigns/" + id + "/" + action).then(function (view) {
        showState(view.state);
        setText(status, OUTCOME_WORDS[action] + ": done. The campaign is " + view.state + ".");
      }, function (error) {
        status.className = "error";
        setText(status, error.message);
      });
    }

    document.querySelectorAll("#campaign-actions [data-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        pendingAction = button.getAttribute("data-action");
        setText(byId("confirm-title"), OUTCOME_WORDS[pendingAction] + "?");
        setText(byId("confirm-text"), consequence(pendingAction));
        setText(byId("confirm-yes"), OUTCOME_WORDS[pendingAction]);
        if (dialog.showModal) dialog.showModal();
        else if (window.confirm(consequence(pendingAction))) act(pendingAction);
      });
    });
    dialog.addEventListener("close", function () {
      var action = pendingAction;
      pendingAction = null;
      if (dialog.returnValue === "yes" && action) act(action);
      var back = action && byId("action-" + action);
      if (back && !back.hidden) back.focus();
    });

    /* Pacing: the slider applies cps when let go of; the rest with "Apply pacing". */
    function clearErrors() {
      ["cps", "max_concurrent", "priority", "window"].forEach(function (name) {
        setText(byId("error-" + name), "");
      });
    }

    function patch(body, what) {
      var status = byId("pacing-status");
      clearErrors();
      status.className = "";
      setText(status, "Applying…");
      return OV.api("PATCH", "/api/v1/campaigns/" + id, body).then(function (view) {
        editing = false;
        setText(status, "Applied: " + what(view) + ".");
        setText(byId("cap-cps"), String(view.pacing.cps));
        current.cps = view.pacing.cps;
        current.max_concurrent = view.pacing.max_concurrent;
        current.window = view.pacing.window;
      }, function (error) {
        editing = false;  // the stream puts the slider back where the campaign is
        status.className = "error";
        setText(status, error.message);
        var field = error.field && byId("error-" + error.field);
        if (field) setText(field, error.message);
      });
    }

    var timer = null;
    slider.addEventListener("input", function () {
      editing = true;
      setText(sliderOut, slider.value);
    });
    slider.addEventListener("change", function () {
      setText(sliderOut, slider.value);
      if (timer) clearTimeout(timer);
      timer = setTimeout(function () {
        patch({ cps: Number(slider.value) }, function (view) {
          return view.pacing.cps + " calls per second";
        });
      }, 150);
    });

    byId("pacing-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      var concurrent = byId("pacing-max-concurrent").value;
      var priority = byId("pacing-priority").value;
      var opens = byId("pacing-window-opens").value;
      var closes = byId("pacing-window-closes").value;
      body.cps = Number(slider.value);
      if (concurrent !== "") body.max_concurrent = Number(concurrent);
      if (priority !== "") body.priority = Number(priority);
      if (opens && closes) body.window = opens + "-" + closes;
      patch(body, function (view) {
        return view.pacing.cps + " calls per second, " + view.pacing.max_concurrent +
          " at once, window " + view.pacing.window + ", priority " + view.pacing.priority;
      });
    });
  }

  /* ---- new campaign ------------------------------------------------------------------- */

  function keys(text) {
    return text.split(/[\s,;]+/).map(function (s) { return s.trim(); })
      .filter(function (s) { return s; });
  }

  function newCampaignPage(form) {
    var estimateButton = byId("estimate-button");
    var shown = null;

    function audienceKind() {
      var checked = form.querySelector('input[name="audience_kind"]:checked');
      return checked ? checked.value : "list";
    }

    function showAudience() {
      var kind = audienceKind();
      byId("outage-field").hidden = kind === "list";
      byId("list-fields").hidden = kind !== "list";
      byId("message-field").hidden = byId("campaign-kind").value !== "custom";
      byId("force-field").hidden = byId("campaign-kind").value !== "restoration";
    }

    function body() {
      var kind = byId("campaign-kind").value;
      var audience = {};
      var which = audienceKind();
      if (which === "list") {
        var accounts = keys(byId("audience-accounts").value);
        var premises = keys(byId("audience-premises").value);
        var feeders = keys(byId("audience-feeders").value);
        if (accounts.length) audience.accounts = accounts;
        if (premises.length) audience.premises = premises;
        if (feeders.length) audience.feeders = feeders;
      } else {
        audience.outage_id = byId("audience-outage-id").value.trim();
        if (which === "callbacks") audience.callback_requests = true;
      }
      var spec = {
        name: byId("campaign-name-input").value,
        kind: kind,
        audience: audience,
        pacing: {},
        urgent: byId("campaign-urgent").checked,
        voicemail: byId("campaign-voicemail").value,
        retry: {}
      };
      if (kind === "custom") spec.message = { text: byId("campaign-message").value };
      if (kind === "restoration" && byId("campaign-force").checked) spec.force = true;
      var cps = byId("campaign-cps").value;
      var concurrent = byId("campaign-max-concurrent").value;
      if (cps !== "") spec.pacing.cps = Number(cps);
      if (concurrent !== "") spec.pacing.max_concurrent = Number(concurrent);
      var opens = byId("campaign-window-opens").value;
      var closes = byId("campaign-window-closes").value;
      if (opens && closes) spec.window = opens + "-" + closes;
      var priority = byId("campaign-priority").value;
      if (priority !== "") spec.priority = Number(priority);
      ["busy", "no_answer", "failed", "voicemail"].forEach(function (outcome) {
        var tries = byId("retry-" + outcome + "-attempts").value;
        var wait = byId("retry-" + outcome + "-delay").value;
        var rule = {};
        if (tries !== "") rule.max_attempts = Number(tries);
        if (wait !== "") rule.delay_s = Math.round(Number(wait) * 60);
        spec.retry[outcome] = rule;
      });
      return spec;
    }

    function clearErrors() {
      form.querySelectorAll(".field-error").forEach(function (p) { setText(p, ""); });
      setText(byId("form-error"), "");
    }

    function showError(error) {
      var field = error.field || "";
      var target = byId("error-" + field) ||
        byId("error-" + field.split(".").slice(0, 2).join(".")) ||
        byId("error-" + field.split(".")[0]);
      if (target) setText(target, error.message);
      setText(byId("form-error"), (field ? field + ": " : "") + error.message);
    }

    function estimate() {
      clearErrors();
      setText(byId("estimate-empty"), "Counting…");
      byId("estimate-empty").hidden = false;
      var sent = JSON.stringify(body());
      return OV.api("POST", "/api/v1/campaigns/estimate", JSON.parse(sent)).then(function (answer) {
        shown = sent;
        byId("estimate-empty").hidden = true;
        byId("estimate-figures").hidden = false;
        setText(byId("estimate-targets"), n(answer.targets));
        var out = 0;
        var list = byId("estimate-excluded");
        while (list.firstChild) list.removeChild(list.firstChild);
        Object.keys(answer.excluded).forEach(function (reason) {
          out += answer.excluded[reason];
          var li = document.createElement("li");
          li.setAttribute("data-reason", reason);
          li.textContent = reason.replace(/_/g, " ") + ": " + n(answer.excluded[reason]);
          list.appendChild(li);
        });
        setText(byId("estimate-excluded-total"), n(out));
        setText(byId("estimate-duration"), OV.formatDuration(answer.estimated_duration_s));
        byId("estimate-duration").setAttribute("data-seconds", answer.estimated_duration_s);
        var unknown = answer.unknown_audience_keys || {};
        var words = Object.keys(unknown).map(function (kind) {
          var examples = (answer.unknown_audience_examples || {})[kind] || [];
          return n(unknown[kind]) + " " + kind + (unknown[kind] === 1 ? "" : "s") +
            " not found" + (examples.length ? " (" + examples.join(", ") + ")" : "");
        });
        byId("estimate-unknown").hidden = words.length === 0;
        setText(byId("estimate-unknown"), words.join("; "));
        return answer;
      }, function (error) {
        shown = null;
        byId("estimate-figures").hidden = true;
        setText(byId("estimate-empty"), "No estimate: fix the form first.");
        showError(error);
      });
    }

    form.addEventListener("change", function (event) {
      showAudience();
      if (event.target && event.target.name === "audience_kind") shown = null;
    });
    estimateButton.addEventListener("click", estimate);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var start = event.submitter && event.submitter.value === "start";
      clearErrors();
      var spec = body();
      // What is launched is what was estimated: estimate again if the form changed since.
      var ready = shown === JSON.stringify(spec) ? Promise.resolve(true) : estimate();
      ready.then(function (answer) {
        if (!answer) return;
        OV.api("POST", "/api/v1/campaigns", spec).then(function (draft) {
          if (!start) return draft;
          // The draft exists whatever the start answers: a failed start goes to its page
          // with the reason, so sending the form again cannot make a second campaign.
          return OV.api("POST", "/api/v1/campaigns/" + draft.id + "/start").catch(
            function (error) {
              try { sessionStorage.setItem(START_ERROR + draft.id, error.message); }
              catch (e) { /* storage refused: the page shows the draft anyway */ }
              return draft;
            });
        }).then(function (view) {
          if (view) location.assign("/dashboard/campaigns/" + view.id);
        }, showError);
      });
    });
    showAudience();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = byId("campaigns-list");
    if (list) campaignsPage(list);
    var page = byId("campaign-page");
    if (page) campaignPage(page);
    var form = byId("new-campaign-form");
    if (form) newCampaignPage(form);
  });
})();
