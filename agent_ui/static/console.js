/* Agent console: one WebSocket (protocol v1), state buttons, screen-pop.
   Every piece of data is inserted with textContent; no HTML is built from data. */
(function () {
  "use strict";

  var body = document.body;
  var wsUrl = body.getAttribute("data-ws-url");
  var firstToken = body.getAttribute("data-ws-token");

  function $(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  function setText(id, text) { var el = $(id); if (el) { el.textContent = text == null ? "" : String(text); } }

  var link = null;
  var since = null;
  var clockSkew = 0;

  // ------------------------------------------------------------------ connection

  function setConnection(text) {
    setText("connection-status", text);
    body.classList.toggle("is-connected", text === "connected");
  }

  function command(name, args) {
    var sent = link && link.command(name, args, function (error) {
      if (error) { showMessage(error, true); } else { showMessage("", false); }
    });
    if (!sent) { showMessage("Not connected: try again in a moment.", true); }
  }

  function showMessage(text, isError) {
    var el = $("console-message");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  // ------------------------------------------------------------------ messages

  var handlers = {
    welcome: function (msg) {
      if (typeof msg.server_time === "number") { clockSkew = Date.now() / 1000 - msg.server_time; }
      if (msg.agent) {
        setText("agent-name", msg.agent.display_name);
        setText("agent-extension", msg.agent.extension);
      }
      applySnapshot(msg.snapshot || {});
    },
    agent_state: function (msg) {
      setState(msg.state, msg.reason, msg.since);
      setWrapup(msg.state === "wrap_up" ? msg.wrapup_until : null, msg.wrapup_extended);
      if (typeof msg.calls_today === "number") { setText("calls-today", msg.calls_today); }
    },
    pop: function (msg) { renderPop(msg); },
    call: function (msg) { setCall(msg.state); },
    error: function (msg) {
      if (msg.error === "unauthorized") { setConnection("reconnecting"); }
      else { showMessage(String(msg.error || "error"), true); }
    }
  };

  function handle(msg) {
    var fn = Object.prototype.hasOwnProperty.call(handlers, msg.type) ? handlers[msg.type] : null;
    if (fn) { fn(msg); }
  }

  // ------------------------------------------------------------------ state

  function setState(state, reason, sinceAt) {
    state = state || "logged_out";
    var el = $("agent-state");
    el.textContent = state.replace(/_/g, " ");
    el.className = "state-badge state-" + state.replace(/[^a-z_]/g, "");
    el.setAttribute("data-state", state);
    setText("agent-reason", reason || "");
    since = typeof sinceAt === "number" ? sinceAt : null;
    tick();
  }

  function setReasons(reasons) {
    var select = $("not-ready-reason");
    var current = select.value;
    while (select.firstChild) { select.removeChild(select.firstChild); }
    (reasons || []).forEach(function (r) {
      var opt = document.createElement("option");
      opt.value = String(r);
      opt.textContent = String(r);
      select.appendChild(opt);
    });
    if (current) { select.value = current; }
  }

  function setCall(state) {
    var el = $("call-state");
    state = state || "idle";
    el.textContent = state;
    el.className = "call-badge call-" + String(state).replace(/[^a-z_]/g, "");
  }

  function applySnapshot(s) {
    setReasons(s.reasons);
    setState(s.state, s.reason, s.since);
    setWrapup(s.state === "wrap_up" ? s.wrapup_until : null, s.wrapup_extended);
    setCall(s.call && s.call.state ? s.call.state : "idle");
    setText("calls-today", s.calls_today == null ? 0 : s.calls_today);
    if (s.pop) { renderPop(s.pop); } else { clearPop(); }
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), sec = seconds % 60;
    var mm = h ? (m < 10 ? "0" + m : String(m)) : String(m);
    return (h ? h + ":" : "") + mm + ":" + (sec < 10 ? "0" + sec : sec);
  }

  // Wrap-up (after-call work): a countdown to the server's end time, "end wrap-up"
  // (goes Ready now) and "extend" (once per call, the server decides).
  var wrapupUntil = null;

  function setWrapup(until, extended) {
    wrapupUntil = typeof until === "number" ? until : null;
    $("wrapup").hidden = wrapupUntil === null;
    $("wrapup-extend").disabled = !!extended;
    tick();
  }

  function tick() {
    var now = Date.now() / 1000 - clockSkew;
    if (wrapupUntil !== null) { setText("wrapup-countdown", duration(wrapupUntil - now)); }
    if (since === null) { setText("state-since", "—"); return; }
    setText("state-since", duration(now - since));
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------------ screen-pop

  function clearList(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  function clearPop() {
    $("screen-pop").hidden = true;
    $("pop-placeholder").hidden = false;
  }

  function renderPop(p) {
    var c = p.customer || null;
    setText("pop-customer-name", c ? (c.name || "Unnamed customer") : "Unknown caller");
    setText("pop-caller-number", p.caller_number || "withheld");
    setText("pop-company", c ? c.company : "");
    var tier = $("pop-tier");
    tier.textContent = c && c.tier ? c.tier : "";
    tier.classList.toggle("vip", !!(c && c.tier && String(c.tier).toUpperCase() === "VIP"));
    setText("pop-queue", p.queue || "");
    setText("pop-wait", typeof p.wait_s === "number" ? duration(p.wait_s) : "");
    setText("pop-account", c ? c.account_number : "");
    setText("pop-email", c ? c.email : "");
    setText("pop-phones", c && c.phones ? c.phones.join(", ") : "");
    setText("pop-notes", c ? c.notes : "");
    setText("pop-ivr-choice", p.ivr_choice || "");

    var ivr = $("pop-ivr");
    clearList(ivr);
    (p.ivr || []).forEach(function (step) {
      var li = document.createElement("li");
      var label = step.label || step.step || "";
      li.textContent = label + (step.input ? " — " + step.input : "");
      ivr.appendChild(li);
    });

    var matchesBox = $("pop-matches-box");
    var matches = $("pop-matches");
    clearList(matches);
    var list = !c && p.matches ? p.matches : [];
    list.forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = [m.name, m.company, m.account_number].filter(Boolean).join(" · ");
      matches.appendChild(li);
    });
    matchesBox.hidden = list.length === 0;

    var recent = $("pop-recent");
    clearList(recent);
    (p.recent_contacts || []).slice(0, 10).forEach(function (r) {
      var tr = document.createElement("tr");
      var when = r.arrived_at;
      if (typeof when === "number") { when = new Date(when * 1000).toLocaleString(); }
      [when, r.agent, r.queue, [r.outcome, r.disposition].filter(Boolean).join(" / "), r.notes]
        .forEach(function (v) {
          var td = document.createElement("td");
          td.textContent = v == null ? "" : String(v);
          tr.appendChild(td);
        });
      recent.appendChild(tr);
    });
    if (!recent.firstChild) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = 5;
      td.className = "muted";
      td.textContent = "No earlier contacts";
      tr.appendChild(td);
      recent.appendChild(tr);
    }

    $("pop-placeholder").hidden = true;
    $("screen-pop").hidden = false;
  }

  // ------------------------------------------------------------------ wiring

  function goReady() { command("ready", {}); }
  function goNotReady() { command("not_ready", { reason: $("not-ready-reason").value || "" }); }
  function hangUp() { command("hangup", {}); }

  $("state-ready").addEventListener("click", goReady);
  $("state-not-ready").addEventListener("click", goNotReady);
  $("call-hangup").addEventListener("click", hangUp);
  $("wrapup-end").addEventListener("click", goReady);
  $("wrapup-extend").addEventListener("click", function () { command("extend_wrapup", {}); });

  // Keyboard shortcuts: R ready, N not ready, H hang up; never while typing.
  var shortcuts = { r: goReady, n: goNotReady, h: hangUp };
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) { return; }
    var key = String(ev.key || "").toLowerCase();
    var fn = Object.prototype.hasOwnProperty.call(shortcuts, key) ? shortcuts[key] : null;
    if (fn) { ev.preventDefault(); fn(); }
  });

  link = window.ConsoleLink({ wsUrl: wsUrl, token: firstToken, onMessage: handle,
                              onStatus: setConnection });
})();
