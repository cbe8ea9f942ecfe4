// The wallboard: calls waiting, longest wait (ticking between updates), agents by
// state, today's service level and counts.
"use strict";

(function () {
  let longest = 0;
  let waiting = 0;
  let receivedAt = Date.now();

  function clock(seconds) {
    const whole = Math.floor(seconds);
    const rest = whole % 60;
    return Math.floor(whole / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function tick() {
    const seconds = waiting ? longest + (Date.now() - receivedAt) / 1000 : 0;
    setText("longest-wait", clock(seconds));
  }

  function showAgents(board) {
    const states = document.getElementById("agent-states");
    while (states.firstChild) {
      states.removeChild(states.firstChild);
    }
    for (const state of Object.keys(board.agent_states).sort()) {
      const span = document.createElement("span");
      span.className = "state " + state;
      span.textContent = state + ": " + board.agent_states[state];
      states.appendChild(span);
      states.appendChild(document.createTextNode(" "));
    }
    const rows = document.getElementById("agents");
    while (rows.firstChild) {
      rows.removeChild(rows.firstChild);
    }
    for (const agent of board.agents || []) {
      const tr = document.createElement("tr");
      for (const value of [agent.id, agent.name, agent.state]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      }
      tr.lastChild.className = "state " + agent.state;
      rows.appendChild(tr);
    }
  }

  function show(board) {
    waiting = board.waiting;
    longest = board.longest_wait_s;
    receivedAt = Date.now();
    setText("waiting", board.waiting);
    setText("talking", board.talking);
    tick();
    const today = board.today;
    setText("service-level", today ? today.service_level : "-");
    setText("answered", today ? today.answered : "-");
    setText("abandoned", today ? today.abandoned : "-");
    document.getElementById("db-note").hidden = today !== null && board.agents !== null;
    showAgents(board);
  }

  setInterval(tick, 1000);
  switchboardLive("wallboard=1", function (message) {
    if (message.type === "wallboard") {
      show(message);
    }
  });
})();
