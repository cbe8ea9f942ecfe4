// An agent's screen pop: "waiting for a call", or the call offered to them (ringing,
// then on call) with the customer and the path the caller took through the menus.
"use strict";

(function () {
  const body = document.body;
  let shownCall = null;
  let carded = false; // the full card of the call shown has arrived

  function showIdle() {
    shownCall = null;
    carded = false;
    document.getElementById("idle").hidden = false;
    document.getElementById("call").hidden = true;
  }

  function clearCard() {
    for (const id of ["segment", "products", "owner", "language", "churn", "value", "notes"]) {
      setText(id, "");
    }
    replaceItems(document.getElementById("contacts"), [], String);
  }

  function showCall(call) {
    if (call.call_id !== shownCall) {
      clearCard();
      carded = false;
    }
    shownCall = call.call_id;
    document.getElementById("idle").hidden = true;
    document.getElementById("call").hidden = false;
    setText("call-state", call.state === "talking" ? "On call" : "Ringing");
    setText("caller", call.caller);
    setText("dialed", call.dialed);
    const customer = call.customer;
    if (!carded) {
      // (once the full card is in, it is what the agent reads: it is not overwritten)
      setText("customer-name", customer && customer.known ? customer.name : "Unknown caller");
    }
    if (customer && !carded) {
      setText("segment", customer.segment);
      setText("products", customer.products.join(", "));
      setText("owner", customer.owner);
      setText("language", customer.language);
    }
    const path = document.getElementById("path");
    while (path.firstChild) {
      path.removeChild(path.firstChild);
    }
    for (const step of call.path) {
      const li = document.createElement("li");
      li.textContent = step.node;
      if (step.key) {
        const key = document.createElement("kbd");
        key.textContent = step.key;
        li.appendChild(document.createTextNode(" "));
        li.appendChild(key);
      }
      path.appendChild(li);
    }
  }

  function showCard(message) {
    if (message.call_id !== shownCall) {
      return;
    }
    const card = message.customer;
    carded = true;
    setText("customer-name", card.name);
    setText("segment", card.segment);
    setText("products", card.products.join(", "));
    setText("owner", card.owner);
    setText("language", card.language);
    setText("churn", card.churn);
    setText("value", card.value);
    setText("notes", card.notes);
    replaceItems(document.getElementById("contacts"), card.last_contacts, function (c) {
      return c.at + " (" + c.ago + "): " + c.outcome + (c.agent ? ", " + c.agent : "");
    });
  }

  let query = "agent=" + encodeURIComponent(body.dataset.agent);
  for (const endpoint of (body.dataset.endpoints || "").split(" ")) {
    if (endpoint) {
      query += "&endpoint=" + encodeURIComponent(endpoint);
    }
  }
  switchboardLive(query, function (message) {
    if (message.type === "idle") {
      showIdle();
    } else if (message.type === "call") {
      showCall(message);
    } else if (message.type === "customer") {
      showCard(message);
    }
  });
})();
