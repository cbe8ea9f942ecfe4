// The pages' live feed: a websocket to /live on this server, reopened after a drop
// (1 s, then doubling up to 10 s). Messages are JSON; pages put values in the DOM
// with textContent only, never as HTML.
"use strict";

function switchboardLive(query, onMessage) {
  const status = document.getElementById("status");
  let delay = 1000;
  function say(text, cls) {
    status.textContent = text;
    status.className = "status " + cls;
  }
  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/live?" + query);
    ws.onopen = function () {
      delay = 1000;
      say("live", "live");
    };
    ws.onmessage = function (event) {
      onMessage(JSON.parse(event.data));
    };
    ws.onclose = function () {
      say("reconnecting…", "down");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  open();
}

function setText(id, value) {
  document.getElementById(id).textContent = value === null || value === undefined ? "" : String(value);
}

function replaceItems(list, items, makeText) {
  while (list.firstChild) {
    list.removeChild(list.firstChild);
  }
  for (const item of items) {
    const li = document.createElement("li");
    li.textContent = makeText(item);
    list.appendChild(li);
  }
}
