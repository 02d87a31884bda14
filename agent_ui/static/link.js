/* The console's WebSocket link (protocol v1), shared by the agent console and the
   wallboard: hello with a one-time ticket, replies matched to commands by id, and
   reconnection with backoff and a fresh ticket from /api/ws-ticket.

   var link = ConsoleLink({ wsUrl, token, onMessage(msg), onStatus(text) });
   link.command(name, args, done)   // done(error or null, result); false when not connected
   `result` is the reply's result (the agent's snapshot, or what the command returns);
   undefined when the command failed or the connection was lost. */
window.ConsoleLink = function (opts) {
  "use strict";

  var wsUrl = opts.wsUrl;
  var ws = null;
  var nextId = 1;
  var pending = {};
  var attempt = 0;
  var reconnectTimer = null;

  function open(token) {
    var sock;
    try { sock = new WebSocket(wsUrl); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onopen = function () {
      sock.send(JSON.stringify({ type: "hello", protocol: 1, token: token }));
    };
    sock.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || typeof msg.type !== "string") { return; }
      if (msg.type === "reply") {
        var done = pending[msg.id];
        delete pending[msg.id];
        if (done) {
          if (msg.ok) { done(null, msg.result); } else { done(msg.error || "Rejected", undefined); }
        }
        return;
      }
      if (msg.type === "welcome") {
        attempt = 0;
        opts.onStatus("connected");
      }
      opts.onMessage(msg);
    };
    sock.onclose = function () {
      if (ws !== sock) { return; }
      ws = null;
      Object.keys(pending).forEach(function (id) { pending[id]("connection lost", undefined); });
      pending = {};
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    opts.onStatus("reconnecting");
    if (reconnectTimer) { return; }
    var delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt += 1;
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      fetch("/api/ws-ticket", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) { window.location.assign("/login"); throw new Error("signed out"); }
          if (!r.ok) { throw new Error("ticket " + r.status); }
          return r.json();
        })
        .then(function (t) { wsUrl = t.ws_url || wsUrl; open(t.token); })
        .catch(function () { if (!ws) { scheduleReconnect(); } });
    }, delay);
  }

  function command(name, args, done) {
    if (!ws || ws.readyState !== WebSocket.OPEN) { return false; }
    var id = nextId++;
    pending[id] = done || function () {};
    ws.send(JSON.stringify({ type: "command", id: id, name: name, args: args || {} }));
    return true;
  }

  opts.onStatus("connecting");
  open(opts.token);
  return { command: command };
};
