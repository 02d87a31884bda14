/* Supervisor wallboard: one WebSocket (protocol v1), queue tiles and the agent grid
   redrawn from queue_stats / agents pushes, today's half-hour charts (SVG drawn here,
   no library) from halfhours pushes, supervisor actions on each agent.
   Every piece of data is inserted with textContent; no HTML is built from data. */
(function () {
  "use strict";

  var body = document.body;
  var wsUrl = body.getAttribute("data-ws-url");
  var firstToken = body.getAttribute("data-ws-token");
  var tv = body.getAttribute("data-tv") === "1";

  function $(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text != null) { node.textContent = String(text); }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  var link = null, clockSkew = 0;

  // ------------------------------------------------------------------ connection

  function setConnection(text) {
    var status = $("connection-status");
    if (status) { status.textContent = text; }
    body.classList.toggle("is-connected", text === "connected");
    body.classList.toggle("is-offline", text === "reconnecting");
  }

  function showMessage(text, isError) {
    var box = $("console-message");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
  }

  // done(error or null, result), when given, is called with the outcome and the result.
  function command(name, args, done) {
    var sent = link && link.command(name, args, function (error, result) {
      if (error) { showMessage(error, true); } else { showMessage("Done: " + name.replace(/_/g, " "), false); }
      if (done) { done(error || null, result); }
    });
    if (!sent) {
      showMessage("Not connected: try again in a moment.", true);
      if (done) { done("not connected", undefined); }
    }
  }


  // ------------------------------------------------------------------ rendering

  function duration(seconds) {
    if (typeof seconds !== "number") { return "—"; }
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }
  function pct(v) { return typeof v === "number" ? Math.round(v * 100) + "%" : "—"; }
  function stateClass(state) { return "state-badge state-" + String(state || "logged_out").replace(/[^a-z_]/g, ""); }

  function renderQueues(queues) {
    var box = $("queue-tiles");
    clear(box);
    if (!queues || !queues.length) { box.appendChild(el("p", "muted", "No queue figures yet.")); return; }
    queues.forEach(function (q) {
      var tile = el("article", "tile");
      tile.setAttribute("data-queue", String(q.name));
      tile.setAttribute("data-testid", "tile-" + String(q.name));
      tile.appendChild(el("h2", "tile-name", q.name));
      var main = el("div", "tile-main");
      var big = el("span", "big", q.waiting == null ? 0 : q.waiting);
      big.setAttribute("data-field", "waiting");
      main.appendChild(big);
      main.appendChild(el("span", "label", "waiting"));
      tile.appendChild(main);
      tile.classList.toggle("alert", q.waiting > 0 && q.agents && q.agents.ready === 0);
      var dl = el("dl", "tile-figures");
      [["Longest", "longest_wait_s", duration(q.longest_wait_s)],
       ["Service level", "service_level", pct(q.service_level)],
       ["ASA", "asa_s", duration(q.asa_s)],
       ["Abandoned", "abandon_rate", pct(q.abandon_rate)]].forEach(function (f) {
        dl.appendChild(el("dt", null, f[0]));
        var dd = el("dd", null, f[2]);
        dd.setAttribute("data-field", f[1]);
        dl.appendChild(dd);
      });
      tile.appendChild(dl);
      var agents = el("div", "tile-agents");
      var a = q.agents || {};
      [["ready", "state-ready", "ready"], ["busy", "state-on_call", "busy"],
       ["wrap_up", "state-wrap_up", "wrap-up"], ["not_ready", "state-not_ready", "not ready"]].forEach(function (p) {
        var pill = el("span", "pill " + p[1]);
        var b = el("b", null, a[p[0]] == null ? 0 : a[p[0]]);
        b.setAttribute("data-field", p[0]);
        pill.appendChild(b);
        pill.appendChild(document.createTextNode(" " + p[2]));
        agents.appendChild(pill);
      });
      tile.appendChild(agents);
      box.appendChild(tile);
    });
  }

  function actionButton(label, name, agentId, testid) {
    var b = el("button", "small-btn", label);
    b.type = "button";
    b.setAttribute("data-testid", testid + "-" + agentId);
    b.addEventListener("click", function () {
      var args = { agent_id: agentId };
      if (name === "force_not_ready") { var r = $("force-reason"); args.reason = r ? r.value : ""; }
      command(name, args);
    });
    return b;
  }

  function renderAgents(agents) {
    var grid = $("agents-grid");
    if (!grid) { return; }  // TV mode: tiles and charts only
    clear(grid);
    (agents || []).forEach(function (a) {
      var tr = el("tr");
      tr.setAttribute("data-agent-id", String(a.id));
      tr.appendChild(el("td", null, a.name));
      var st = el("td");
      var badge = el("span", stateClass(a.state), String(a.state || "logged_out").replace(/_/g, " "));
      badge.setAttribute("data-testid", "agent-state-" + a.id);
      st.appendChild(badge);
      tr.appendChild(st);
      tr.appendChild(el("td", null, a.reason || ""));
      var since = el("td", "since");
      since.setAttribute("data-since", typeof a.since === "number" && a.state !== "logged_out"
        ? String(a.since) : "");
      tr.appendChild(since);
      tr.appendChild(el("td", null, a.call_id || ""));
      tr.appendChild(el("td", null, a.customer || ""));
      tr.appendChild(el("td", null, a.calls_handled == null ? 0 : a.calls_handled));
      if (!tv && typeof a.id === "number") {
        var actions = el("td", "actions");
        actions.appendChild(actionButton("Ready", "force_ready", a.id, "force-ready"));
        actions.appendChild(actionButton("Not ready", "force_not_ready", a.id, "force-not-ready"));
        actions.appendChild(actionButton("Log out", "force_logout", a.id, "force-logout"));
        if (a.call_id) {
          actions.appendChild(actionButton("Listen", "listen", a.id, "listen"));
          actions.appendChild(actionButton("Whisper", "whisper", a.id, "whisper"));
          actions.appendChild(actionButton("Barge", "barge", a.id, "barge"));
        }
        tr.appendChild(actions);
      }
      grid.appendChild(tr);
    });
    tick();
  }

  function tick() {
    var now = Date.now() / 1000 - clockSkew;
    Array.prototype.forEach.call(document.querySelectorAll("td.since"), function (td) {
      var at = parseFloat(td.getAttribute("data-since"));
      td.textContent = isNaN(at) ? "—" : duration(now - at);
    });
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------------ charts

  var SVGNS = "http://www.w3.org/2000/svg";
  // Both charts share the time axis, labelled under the second one.
  var W = 560, BAR_H = 150, LINE_H = 140, LEFT = 40, RIGHT = 10, TOP = 14, BOTTOM = 22;
  var MIN_SLOTS = 8;

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text != null) { node.textContent = String(text); }
    return node;
  }
  function slotLabel(i) {
    var h = Math.floor(i / 2);
    return (h < 10 ? "0" : "") + h + ":" + (i % 2 ? "30" : "00");
  }
  function niceMax(v) {
    if (v <= 4) { return 4; }
    var step = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
    var m = [1, 2, 2.5, 5, 10].map(function (f) { return f * step; }).filter(function (x) { return x >= v; });
    return m.length ? m[0] : 10 * step;
  }

  // The slots shown: from the first with a call (at most a day) to the current one,
  // at least MIN_SLOTS wide.
  function slotRange(msg) {
    var current = typeof msg.slot === "number" ? msg.slot : 47, first = current;
    [msg.total].concat(msg.queues || []).forEach(function (series) {
      ((series && series.slots) || []).forEach(function (s) { first = Math.min(first, s.slot); });
    });
    var start = Math.max(0, Math.min(first, current - MIN_SLOTS + 1));
    var end = Math.min(47, Math.max(current, start + MIN_SLOTS - 1));
    return [start, end];
  }

  function frame(height, label) {
    var node = svgEl("svg", { viewBox: "0 0 " + W + " " + height, "class": "chart",
                              role: "img", "aria-label": label });
    node.appendChild(svgEl("title", {}, label));
    return node;
  }

  function xAxis(node, range, height, slotW) {
    var every = Math.ceil((range[1] - range[0] + 1) / 12);
    for (var i = range[0]; i <= range[1]; i++) {
      if ((i - range[0]) % every) { continue; }
      node.appendChild(svgEl("text", { x: LEFT + (i - range[0] + 0.5) * slotW, y: height - 6,
                                       "class": "axis", "text-anchor": "middle" }, slotLabel(i)));
    }
  }

  function barChart(series, range) {
    var bySlot = {};
    (series.slots || []).forEach(function (s) { bySlot[s.slot] = s; });
    var n = range[1] - range[0] + 1, slotW = (W - LEFT - RIGHT) / n, plotH = BAR_H - TOP - 6;
    var top = niceMax(Math.max.apply(null, [0].concat((series.slots || []).map(function (s) { return s.offered; }))));
    var node = frame(BAR_H, series.name + ": calls offered, answered and abandoned per half hour");
    [0, top / 2, top].forEach(function (v) {
      var y = TOP + plotH - plotH * v / top;
      node.appendChild(svgEl("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, "class": "grid" }));
      node.appendChild(svgEl("text", { x: LEFT - 6, y: y + 4, "class": "axis", "text-anchor": "end" }, v));
    });
    var kinds = ["offered", "answered", "abandoned"], barW = Math.max(1, slotW * 0.8 / kinds.length);
    for (var i = range[0]; i <= range[1]; i++) {
      var s = bySlot[i];
      if (!s) { continue; }
      kinds.forEach(function (kind, k) {
        var h = plotH * (s[kind] || 0) / top;
        var bar = svgEl("rect", { x: LEFT + (i - range[0]) * slotW + slotW * 0.1 + k * barW,
                                  y: TOP + plotH - h, width: barW, height: h, "class": "bar-" + kind });
        bar.appendChild(svgEl("title", {}, slotLabel(i) + " " + kind + ": " + (s[kind] || 0)));
        node.appendChild(bar);
      });
    }
    return node;
  }

  function lineChart(series, range) {
    var n = range[1] - range[0] + 1, slotW = (W - LEFT - RIGHT) / n, plotH = LINE_H - TOP - BOTTOM;
    var node = frame(LINE_H, series.name + ": service level per half hour against the target");
    function y(v) { return TOP + plotH - plotH * v; }
    [0, 0.5, 1].forEach(function (v) {
      node.appendChild(svgEl("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), "class": "grid" }));
      node.appendChild(svgEl("text", { x: LEFT - 6, y: y(v) + 4, "class": "axis", "text-anchor": "end" }, pct(v)));
    });
    if (typeof series.target === "number") {
      node.appendChild(svgEl("line", { x1: LEFT, x2: W - RIGHT, y1: y(series.target), y2: y(series.target),
                                       "class": "target", "data-target": series.target }));
    }
    var points = [], segments = [];
    for (var i = range[0]; i <= range[1]; i++) {
      var s = null;
      (series.slots || []).forEach(function (x) { if (x.slot === i) { s = x; } });
      if (!s || typeof s.service_level !== "number") {
        if (points.length) { segments.push(points); points = []; }
        continue;
      }
      points.push([LEFT + (i - range[0] + 0.5) * slotW, y(s.service_level), s.service_level, i]);
    }
    if (points.length) { segments.push(points); }
    segments.forEach(function (seg) {
      node.appendChild(svgEl("polyline", { points: seg.map(function (p) { return p[0] + "," + p[1]; }).join(" "),
                                           "class": "sl-line" }));
      seg.forEach(function (p) {
        var below = typeof series.target === "number" && p[2] < series.target;
        var dot = svgEl("circle", { cx: p[0], cy: p[1], r: 4, "class": "sl-dot" + (below ? " below" : "") });
        dot.appendChild(svgEl("title", {}, slotLabel(p[3]) + " service level " + pct(p[2])));
        node.appendChild(dot);
      });
    });
    xAxis(node, range, LINE_H, slotW);
    return node;
  }

  function legend(series) {
    var box = el("div", "chart-legend");
    [["offered", "offered"], ["answered", "answered"], ["abandoned", "abandoned"]].forEach(function (k) {
      var item = el("span", "key key-" + k[0]);
      item.appendChild(el("i"));
      item.appendChild(document.createTextNode(k[1]));
      box.appendChild(item);
    });
    var sl = el("span", "key key-sl");
    sl.appendChild(el("i"));
    sl.appendChild(document.createTextNode("service level" + (typeof series.threshold_s === "number"
      ? " (within " + Math.round(series.threshold_s) + " s)" : "")));
    box.appendChild(sl);
    if (typeof series.target === "number") {
      var t = el("span", "key key-target");
      t.appendChild(el("i"));
      t.appendChild(document.createTextNode("target " + pct(series.target)));
      box.appendChild(t);
    }
    return box;
  }

  function renderCharts(msg) {
    var box = $("charts");
    if (!box || !msg) { return; }
    clear(box);
    var range = slotRange(msg);
    var when = $("charts-day");
    if (when) { when.textContent = String(msg.date || ""); }
    [msg.total].concat(msg.queues || []).forEach(function (series) {
      if (!series) { return; }
      var card = el("article", "chart-card");
      card.setAttribute("data-testid", "chart-" + String(series.name));
      var counts = (series.slots || []).reduce(function (a, s) {
        a.offered += s.offered || 0; a.answered += s.answered || 0; a.abandoned += s.abandoned || 0;
        return a;
      }, { offered: 0, answered: 0, abandoned: 0 });
      var head = el("header", "chart-head");
      head.appendChild(el("h3", "chart-name", series.name));
      head.appendChild(el("span", "chart-sum", counts.offered + " offered · " + counts.answered +
                                               " answered · " + counts.abandoned + " abandoned"));
      card.appendChild(head);
      card.appendChild(legend(series));
      card.appendChild(barChart(series, range));
      card.appendChild(lineChart(series, range));
      box.appendChild(card);
    });
  }

  // ------------------------------------------------------------------ messages

  var handlers = {
    welcome: function (msg) {
      if (typeof msg.server_time === "number") { clockSkew = Date.now() / 1000 - msg.server_time; }
      var board = msg.supervisor || {};
      renderQueues(board.queues || []);
      renderAgents(board.agents || []);
      if (board.halfhours) { renderCharts(board.halfhours); }
    },
    queue_stats: function (msg) { renderQueues(msg.queues || []); },
    halfhours: function (msg) { renderCharts(msg); },
    agents: function (msg) { renderAgents(msg.agents || []); },
    error: function (msg) { if (msg.error !== "unauthorized") { showMessage(String(msg.error || "error"), true); } }
  };

  tick();
  function handle(msg) {
    if (Object.prototype.hasOwnProperty.call(handlers, msg.type)) { handlers[msg.type](msg); }
  }

  link = window.ConsoleLink({ wsUrl: wsUrl, token: firstToken, onMessage: handle,
                              onStatus: setConnection });
})();
