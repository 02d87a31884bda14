/* Agent console: one WebSocket (protocol v1), state buttons, call controls, screen-pop
   (with the pick list and the new-customer form) and the wrap-up form.
   Every piece of data is inserted with textContent; no HTML is built from data.
   What a control shows comes only from what the server pushes ("call", "pop",
   "agent_state" and the welcome snapshot), never from a command having been sent. */
(function () {
  "use strict";

  var body = document.body;
  var wsUrl = body.getAttribute("data-ws-url");
  var firstToken = body.getAttribute("data-ws-token");

  function $(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  function setText(id, text) { var el = $(id); if (el) { el.textContent = text == null ? "" : String(text); } }
  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

  var link = null;
  var since = null;
  var clockSkew = 0;

  // ------------------------------------------------------------------ connection

  function setConnection(text) {
    setText("connection-status", text);
    body.classList.toggle("is-connected", text === "connected");
  }

  // Send a command; errors (and, when given, a success text) go to the status line.
  // done(error or null, result) is called with the outcome and the reply's result.
  function command(name, args, okText, done) {
    var sent = link && link.command(name, args, function (error, result) {
      if (error) { showMessage(error, true); } else { showMessage(okText || "", false); }
      if (done) { done(error || null, error ? undefined : result); }
    });
    if (!sent) {
      showMessage("Not connected: try again in a moment.", true);
      if (done) { done("not connected", undefined); }
    }
    return !!sent;
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
      if (msg.state === "wrap_up" && msg.call_id) {
        openWrapupForm({ call_id: msg.call_id, dispositions: msg.dispositions,
                         disposition_required: msg.disposition_required });
      }
    },
    pop: function (msg) { renderPop(msg); },
    call: function (msg) { setCall(msg); },
    wrapup_saved: function (msg) { wrapupSaved(msg.call_id, msg.saved); },
    error: function (msg) {
      if (msg.error === "unauthorized") { setConnection("reconnecting"); }
      else { showMessage(String(msg.error || "error"), true); }
    }
  };

  function handle(msg) {
    var fn = has(handlers, msg.type) ? handlers[msg.type] : null;
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

  function applySnapshot(s) {
    setReasons(s.reasons);
    setState(s.state, s.reason, s.since);
    setWrapup(s.state === "wrap_up" ? s.wrapup_until : null, s.wrapup_extended);
    setText("calls-today", s.calls_today == null ? 0 : s.calls_today);
    if (s.pop) { renderPop(s.pop); } else { clearPop(); }
    setCall(s.call || null);
    if (s.wrapup && s.wrapup.call_id) { openWrapupForm(s.wrapup); }
    else if (!wrapup.dirty) { closeWrapupForm(); }
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

  // ------------------------------------------------------------------ the live call

  // States in which the agent has a live call that the controls act on.
  var LIVE = { talking: 1, held: 1, on_hold: 1, on_call: 1, consulting: 1, conference: 1 };
  var call = null;  // the last "call" message (or the snapshot's call)

  function isLive() { return !!(call && has(LIVE, call.state)); }

  function setCall(msg) {
    var previous = call;
    call = msg && typeof msg === "object" ? msg : null;
    var state = call && call.state ? String(call.state) : "idle";
    var el = $("call-state");
    el.textContent = state;
    el.className = "call-badge call-" + state.replace(/[^a-z_]/g, "");
    // A new call answered: the previous call's wrap-up can no longer be saved.
    if (call && call.call_id && has(LIVE, state) && wrapup.callId && wrapup.callId !== call.call_id) {
      if (wrapup.dirty) { showMessage("The wrap-up of your previous call was not saved.", true); }
      closeWrapupForm();
    }
    if (!previous || !call || previous.call_id !== call.call_id) { closeTransferForm(); }
    renderControls();
  }

  function renderControls() {
    var live = isLive();
    var held = !!(call && (call.held || call.state === "held" || call.state === "on_hold"));
    var consult = call && call.consult && typeof call.consult === "object" ? call.consult : null;
    var conference = !!(call && call.conference);
    var recording = !!(call && call.recording);

    $("call-hold").disabled = !live || held;
    $("call-resume").disabled = !live || !held;
    $("call-transfer").disabled = !live || !!consult;
    $("call-consult").disabled = !live || !!consult || conference;
    // Recording only where the call's queue allows it (older servers: always offered).
    var mayRecord = !call || call.recording_allowed !== false;
    $("call-record-start").disabled = !live || recording || !mayRecord;
    $("call-record-stop").disabled = !live || !recording;
    $("call-hangup").disabled = !live;
    var keys = document.querySelectorAll("[data-digit]");
    for (var i = 0; i < keys.length; i++) { keys[i].disabled = !live; }
    $("dtmf-send").disabled = !live;

    var box = $("consult-box");
    box.hidden = !(live && consult);
    if (consult) {
      setText("consult-target", consult.target || "");
      setText("consult-state", consult.state || "");
      $("consult-conference").disabled = consult.state !== "talking";
    }
    if (!live || consult) { closeTransferForm(); }

    var flags = [];
    if (held) { flags.push("on hold"); }
    if (recording) { flags.push("recording"); }
    if (conference) { flags.push("conference"); }
    if (call && call.transferred_to) { flags.push("transferred to " + call.transferred_to); }
    setText("call-flags", flags.join(" · "));
  }

  // Blind transfer and consultation share one small form.
  var transferMode = "transfer";

  function openTransferForm(mode) {
    if (!isLive()) { return; }
    transferMode = mode;
    setText("transfer-legend", mode === "consult" ? "Consult (attended transfer) with" : "Transfer to");
    setText("transfer-submit", mode === "consult" ? "Call" : "Transfer");
    $("transfer-form").hidden = false;
    $("transfer-target").focus();
  }

  function closeTransferForm() {
    var form = $("transfer-form");
    if (form.hidden) { return; }
    var hadFocus = form.contains(document.activeElement);
    form.hidden = true;
    if (hadFocus) { $("call-transfer").focus(); }
  }

  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var target = $("transfer-target").value.trim();
    if (!target) { showMessage("Give the agent, queue or number.", true); $("transfer-target").focus(); return; }
    var args = { to: $("transfer-to").value, target: target };
    var name = transferMode === "consult" ? "consult" : "transfer";
    command(name, args, name === "consult" ? "Calling " + target + "…" : "Transferring to " + target + "…",
            function (error) { if (!error) { $("transfer-target").value = ""; closeTransferForm(); } });
  });
  $("transfer-cancel").addEventListener("click", closeTransferForm);

  function toggleHold() {
    if (!$("call-resume").disabled) { command("resume", {}, "Resuming…"); }
    else if (!$("call-hold").disabled) { command("hold", {}, "Holding…"); }
  }

  $("call-hold").addEventListener("click", function () { command("hold", {}, "Holding…"); });
  $("call-resume").addEventListener("click", function () { command("resume", {}, "Resuming…"); });
  $("call-transfer").addEventListener("click", function () { openTransferForm("transfer"); });
  $("call-consult").addEventListener("click", function () { openTransferForm("consult"); });
  $("call-record-start").addEventListener("click", function () { command("record_start", {}, "Starting the recording…"); });
  $("call-record-stop").addEventListener("click", function () { command("record_stop", {}, "Stopping the recording…"); });
  $("consult-complete").addEventListener("click", function () { command("consult_complete", {}, "Completing the transfer…"); });
  $("consult-cancel").addEventListener("click", function () { command("consult_cancel", {}, "Back to the caller…"); });
  $("consult-conference").addEventListener("click", function () { command("conference", {}, "Joining everyone…"); });

  // Tones: a key sends its digit at once; the field sends what was typed.
  function sendDigits(digits) {
    if (!/^[0-9*#]{1,32}$/.test(digits)) { showMessage("Tones are 0-9, * and # (at most 32).", true); return; }
    command("dtmf", { digits: digits }, "Sent " + digits);
  }
  document.querySelectorAll("[data-digit]").forEach(function (btn) {
    btn.addEventListener("click", function () { sendDigits(btn.getAttribute("data-digit")); });
  });
  $("dtmf-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var field = $("dtmf-digits");
    if (!isLive()) { return; }
    sendDigits(field.value.trim());
    field.value = "";
  });

  // ------------------------------------------------------------------ screen-pop

  var pop = null;  // the pop on screen

  function clearList(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  function clearPop() {
    pop = null;
    $("screen-pop").hidden = true;
    $("pop-placeholder").hidden = false;
  }

  function renderPop(p) {
    var samePop = pop && pop.call_id === p.call_id;
    pop = p;
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

    renderPickList(p, c);
    renderNewCustomer(p, c, samePop);

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
    if (wrapup.callId && wrapup.callId === p.call_id) { describeWrapupCall(); }
  }

  // Several customers share the caller's number: the agent picks who is calling.
  function renderPickList(p, c) {
    var matches = p.matches || [];
    var box = $("pop-picklist");
    var list = $("pop-matches");
    clearList(list);
    box.hidden = matches.length < 2;
    if (matches.length < 2) { return; }
    setText("pop-picklist-count", matches.length);
    matches.forEach(function (m) {
      var li = document.createElement("li");
      var btn = document.createElement("button");
      btn.type = "button";
      btn.setAttribute("data-testid", "pick-" + m.id);
      var chosen = c && c.id === m.id;
      btn.setAttribute("aria-pressed", chosen && p.picked === m.id ? "true" : "false");
      var name = document.createElement("strong");
      name.textContent = m.name || "Unnamed customer";
      btn.appendChild(name);
      var rest = [m.company, m.account_number, m.tier].filter(Boolean).join(" · ");
      if (rest) {
        var small = document.createElement("span");
        small.className = "muted";
        small.textContent = " " + rest;
        btn.appendChild(small);
      }
      btn.addEventListener("click", function () {
        command("pick_customer", { call_id: p.call_id, customer_id: m.id }, "Linked to " + (m.name || "the customer"));
      });
      li.appendChild(btn);
      list.appendChild(li);
    });
  }

  // Nobody has the caller's number: offer to create the customer, phone pre-filled.
  function renderNewCustomer(p, c, samePop) {
    var form = $("new-customer-form");
    var show = !c && !(p.matches && p.matches.length) && !!p.call_id;
    if (!show) {
      form.hidden = true;
      return;
    }
    if (!samePop || form.hidden) {
      form.reset();
      $("new-customer-phone").value = p.caller_number || "";
      setText("new-customer-status", "");
    }
    form.hidden = false;
  }

  $("new-customer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!pop) { return; }
    var name = $("new-customer-name").value.trim();
    if (!name) {
      setText("new-customer-status", "Give the customer's name.");
      $("new-customer-name").focus();
      return;
    }
    var submit = $("new-customer-submit");
    submit.disabled = true;
    setText("new-customer-status", "Creating…");
    command("create_customer", {
      call_id: pop.call_id, name: name,
      phone: $("new-customer-phone").value.trim(),
      company: $("new-customer-company").value.trim(),
      email: $("new-customer-email").value.trim(),
      notes: $("new-customer-notes").value
    }, "Customer created", function (error) {
      submit.disabled = false;
      setText("new-customer-status", error ? String(error) : "");
    });
  });

  // ------------------------------------------------------------------ wrap-up form

  // The call being wrapped up: its id, and whether the form has unsaved changes.
  var wrapup = { callId: null, required: true, dirty: false, callerNumber: "" };

  function openWrapupForm(w) {
    var same = wrapup.callId === w.call_id;
    var select = $("wrapup-disposition");
    var chosen = select.value;
    wrapup.callId = w.call_id;
    wrapup.required = w.disposition_required !== false;
    if (w.caller_number) { wrapup.callerNumber = w.caller_number; }
    clearList(select);
    var empty = document.createElement("option");
    empty.value = "";
    empty.textContent = wrapup.required ? "— choose —" : "— none —";
    select.appendChild(empty);
    (w.dispositions || []).forEach(function (d) {
      var opt = document.createElement("option");
      opt.value = String(d);
      opt.textContent = String(d);
      select.appendChild(opt);
    });
    setText("wrapup-required", wrapup.required ? "(required)" : "(optional)");
    if (!same) {
      wrapup.dirty = false;
      chosen = "";
      $("wrapup-notes").value = "";
      $("wrapup-callback-toggle").checked = false;
      $("wrapup-callback-at").value = "";
      $("wrapup-callback-number").value = "";
      setWrapupStatus("", false);
    }
    if (chosen) { select.value = chosen; }
    if (!same && w.saved) { fillSaved(w.saved); }
    showCallback();
    describeWrapupCall();
    $("wrapup-placeholder").hidden = true;
    $("wrapup-form").hidden = false;
  }

  function closeWrapupForm() {
    wrapup.callId = null;
    wrapup.dirty = false;
    $("wrapup-form").hidden = true;
    $("wrapup-placeholder").hidden = false;
  }

  function describeWrapupCall() {
    var parts = [];
    if (pop && pop.call_id === wrapup.callId) {
      if (pop.customer && pop.customer.name) { parts.push(pop.customer.name); }
      if (pop.caller_number) { parts.push(pop.caller_number); }
      if (!wrapup.callerNumber) { wrapup.callerNumber = pop.caller_number || ""; }
    } else if (wrapup.callerNumber) {
      parts.push(wrapup.callerNumber);
    }
    setText("wrapup-call", parts.length ? "Call with " + parts.join(" · ") : "Your last call");
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // A Date as the value of a datetime-local field, and back with the local offset.
  function localValue(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function isoWithOffset(value) {
    var d = new Date(value);
    if (isNaN(d.getTime())) { return null; }
    var off = -d.getTimezoneOffset();
    var sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return localValue(d) + ":00" + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }

  function fillSaved(saved) {
    $("wrapup-disposition").value = saved.disposition || "";
    $("wrapup-notes").value = saved.notes || "";
    var cb = saved.callback;
    $("wrapup-callback-toggle").checked = !!cb;
    $("wrapup-callback-at").value = cb && typeof cb.at === "number" ? localValue(new Date(cb.at * 1000)) : "";
    $("wrapup-callback-number").value = cb && cb.number ? cb.number : "";
    setWrapupStatus("Saved.", false);
    countNotes();
  }

  function showCallback() {
    var on = $("wrapup-callback-toggle").checked;
    $("wrapup-callback").hidden = !on;
    if (on) {
      if (!$("wrapup-callback-number").value) { $("wrapup-callback-number").value = wrapup.callerNumber || ""; }
      if (!$("wrapup-callback-at").value) {
        var later = new Date(Date.now() + 3600 * 1000);
        later.setMinutes(0);
        $("wrapup-callback-at").value = localValue(later);
      }
    }
  }

  function setWrapupStatus(text, isError) {
    var el = $("wrapup-status");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  function countNotes() { setText("wrapup-notes-count", $("wrapup-notes").value.length); }

  function wrapupSaved(callId, saved) {
    if (callId !== wrapup.callId) { return; }
    if (!wrapup.dirty && saved) { fillSaved(saved); }
    setWrapupStatus("Saved.", false);
  }

  $("wrapup-form").addEventListener("input", function () {
    wrapup.dirty = true;
    countNotes();
    setWrapupStatus("", false);
  });
  $("wrapup-callback-toggle").addEventListener("change", showCallback);

  $("wrapup-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!wrapup.callId) { return; }
    var disposition = $("wrapup-disposition").value;
    if (wrapup.required && !disposition) {
      setWrapupStatus("Choose a disposition before saving.", true);
      $("wrapup-disposition").focus();
      return;
    }
    var notes = $("wrapup-notes").value;
    if (notes.length > 2000) { setWrapupStatus("Notes are limited to 2000 characters.", true); return; }
    var callback = null;
    if ($("wrapup-callback-toggle").checked) {
      var at = isoWithOffset($("wrapup-callback-at").value);
      if (!at) { setWrapupStatus("Give the callback time.", true); $("wrapup-callback-at").focus(); return; }
      callback = { at: at, number: $("wrapup-callback-number").value.trim() };
    }
    var save = $("wrapup-save");
    save.disabled = true;
    setWrapupStatus("Saving…", false);
    var callId = wrapup.callId;
    command("wrapup", { call_id: callId, disposition: disposition, notes: notes, callback: callback },
            "", function (error) {
              save.disabled = false;
              if (wrapup.callId !== callId) { return; }
              if (error) { setWrapupStatus(String(error), true); return; }
              wrapup.dirty = false;
              setWrapupStatus("Saved.", false);
            });
  });

  // ------------------------------------------------------------------ wiring

  function goReady() { command("ready", {}); }
  function goNotReady() { command("not_ready", { reason: $("not-ready-reason").value || "" }); }
  function hangUp() { command("hangup", {}); }

  $("state-ready").addEventListener("click", goReady);
  $("state-not-ready").addEventListener("click", goNotReady);
  $("call-hangup").addEventListener("click", hangUp);
  $("wrapup-end").addEventListener("click", goReady);
  $("wrapup-extend").addEventListener("click", function () { command("extend_wrapup", {}); });

  function openKeypad() {
    var pad = $("dtmf-pad");
    pad.open = true;
    $("dtmf-digits").focus();
  }
  function focusWrapup() {
    if (!$("wrapup-form").hidden) { $("wrapup-disposition").focus(); }
  }

  // Keyboard shortcuts: R ready, N not ready, H hang up, O hold/resume, T transfer,
  // C consult, K keypad, W wrap-up; never while typing. Escape closes the transfer form.
  var shortcuts = {
    r: goReady, n: goNotReady, h: hangUp, o: toggleHold,
    t: function () { openTransferForm("transfer"); },
    c: function () { if (!$("call-consult").disabled) { openTransferForm("consult"); } },
    k: openKeypad, w: focusWrapup
  };
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape" && !$("transfer-form").hidden) { ev.preventDefault(); closeTransferForm(); return; }
    if (ev.repeat) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) { return; }
    var key = String(ev.key || "").toLowerCase();
    var fn = has(shortcuts, key) ? shortcuts[key] : null;
    if (fn) { ev.preventDefault(); fn(); }
  });

  renderControls();
  link = window.ConsoleLink({ wsUrl: wsUrl, token: firstToken, onMessage: handle,
                              onStatus: setConnection });
})();
