/* Supervisor wallboard: one WebSocket (protocol v1), queue tiles and the agent grid
   redrawn from queue_stats / agents pushes, supervisor actions on each agent.
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
  }

  function showMessage(text, isError) {
    var box = $("console-message");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
  }

  function command(name, args) {
    var sent = link && link.command(name, args, function (error) {
      if (error) { showMessage(error, true); } else { showMessage("Done: " + name.replace(/_/g, " "), false); }
    });
    if (!sent) { showMessage("Not connected: try again in a moment.", true); }
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
      since.setAttribute("data-since", typeof a.since === "number" ? String(a.since) : "");
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

  // ------------------------------------------------------------------ messages

  var handlers = {
    welcome: function (msg) {
      if (typeof msg.server_time === "number") { clockSkew = Date.now() / 1000 - msg.server_time; }
      var board = msg.supervisor || {};
      renderQueues(board.queues || []);
      renderAgents(board.agents || []);
    },
    queue_stats: function (msg) { renderQueues(msg.queues || []); },
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
