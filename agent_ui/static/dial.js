/* Click-to-dial on a customer's page: each "Call" button sends the console command
   `dial` {number, customer_id} over the agent's WebSocket link (link.js). The agent's
   phone rings first, then the number is dialled; this page shows how it goes from the
   pushed `call` and `pop` messages (the console page shows the same pop). */
(function () {
  "use strict";

  var bar = document.querySelector(".dial-bar");
  if (!bar || !window.ConsoleLink) { return; }
  var status = bar.querySelector("[data-testid=dial-status]");
  var buttons = Array.prototype.slice.call(bar.querySelectorAll("button.dial"));
  var customerId = parseInt(bar.getAttribute("data-customer-id"), 10);
  var link = null;
  var placed = null;  // call id of the call placed from this page
  var dialling = null;  // the number asked for, until its call shows up

  function say(text) { status.textContent = text; }
  function enable(on) { buttons.forEach(function (b) { b.disabled = !on; }); }

  function onMessage(msg) {
    if (msg.type === "call" && msg.direction === "outbound" && dialling &&
        msg.number === dialling) {
      placed = msg.call_id;
      dialling = null;
    }
    if (msg.type === "pop" && msg.kind === "outbound" && msg.call_id === placed) {
      var who = msg.customer ? msg.customer.name : msg.caller_number;
      say("Outbound call to " + who + " (" + msg.caller_number + "): your phone is ringing");
    } else if (msg.type === "call" && msg.call_id === placed) {
      var words = { ringing: "your phone is ringing", dialing: "calling the customer",
                    talking: "connected", ended: "call ended", missed: "not answered" };
      say("Outbound call: " + (words[msg.state] || msg.state));
      if (msg.state === "ended") { enable(true); }
    }
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      if (!link) { say("Not connected yet"); return; }
      enable(false);
      say("Placing the call…");
      placed = null;
      dialling = button.getAttribute("data-number");
      var sent = link.command("dial", { number: dialling, customer_id: customerId },
                              function (error) {
        if (error) { say(error); dialling = null; enable(true); }
      });
      if (!sent) { say("Not connected yet"); enable(true); }
    });
  });

  enable(false);
  fetch("/api/ws-ticket", { credentials: "same-origin", cache: "no-store" })
    .then(function (r) { if (!r.ok) { throw new Error("ticket " + r.status); } return r.json(); })
    .then(function (t) {
      link = window.ConsoleLink({
        wsUrl: t.ws_url, token: t.token, onMessage: onMessage,
        onStatus: function (s) { if (s === "connected") { enable(true); } }
      });
    })
    .catch(function () { say("Calls cannot be placed from this page right now"); });
})();
