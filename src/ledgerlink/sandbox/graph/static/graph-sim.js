// The simulated conversation: polls the simulator's state, draws it, sends what the person
// types and taps. No framework; every text is set with textContent (never as HTML).
(function () {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "";
  const platform = body.dataset.platform;
  const user = body.dataset.user;
  const log = document.querySelector(".sim-log");
  const chips = document.querySelector(".sim-chips");
  const state = document.querySelector(".sim-state");
  let last = "";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function post(path, data) {
    const resp = await fetch(base + path, {
      method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify(Object.assign({platform: platform, user: user}, data)),
    });
    return resp.json();
  }

  async function tap(entry, index) {
    const result = await post("/sim/api/tap", {entry: entry, index: index});
    if (result.open) {
      const button = (window.__entries[entry] || {buttons: []}).buttons[index] || {};
      if (button.kind === "web_url") window.open(result.open, "_blank", "noopener");
      else window.location.href = result.open;  // Log in: the business's own page
    }
    refresh();
  }

  function button(entry, b, disabled) {
    const node = el(b.kind === "web_url" ? "button" : "button", "", b.title);
    node.type = "button";
    node.dataset.testid = "sim-button";
    node.dataset.kind = b.kind;
    node.disabled = disabled;
    node.addEventListener("click", () => tap(entry.id, b.index));
    return node;
  }

  function draw(entry) {
    const item = el("li", "sim-entry");
    item.dataset.testid = "sim-entry";
    item.dataset.sender = entry.sender;
    item.dataset.kind = entry.kind;
    item.dataset.id = entry.id;
    const cardKinds = ["generic", "button", "receipt", "interactive", "template"];
    if (entry.kind === "event") {
      item.append(el("span", "", "— " + entry.text + " —"));
    } else if (cardKinds.includes(entry.kind)) {
      const card = el("div", "card");
      if (entry.header) card.append(el("div", "head", entry.header));
      const inner = el("div", "card-body");
      if (entry.title) inner.append(el("div", "title", entry.title));
      if (entry.subtitle) inner.append(el("div", "subtitle", entry.subtitle));
      if (entry.text) inner.append(el("div", "text", entry.text));
      card.append(inner);
      if (entry.footer) card.append(el("div", "foot", entry.footer));
      const once = entry.kind === "interactive" || entry.kind === "template";
      entry.buttons.forEach((b) => card.append(button(entry, b, once && entry.tapped)));
      item.append(card);
    } else {
      item.append(el("div", "bubble", entry.text));
    }
    const meta = [];
    if (entry.tag) meta.push("tag " + entry.tag);
    if (entry.template) meta.push("template " + entry.template);
    if (entry.reply_to) meta.push("reply to an earlier message");
    if (meta.length) item.append(el("span", "tiny", meta.join(" · ")));
    if (platform === "whatsapp" && entry.sender === "page") {
      const ticks = {accepted: "•", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read",
                     failed: "✗ failed" + (entry.error_code ? " (" + entry.error_code + ")" : "")};
      const status = el("span", "status", ticks[entry.status] || entry.status);
      status.dataset.status = entry.status;
      status.dataset.testid = "sim-status";
      item.append(status);
    }
    return item;
  }

  function drawChips(entries) {
    chips.replaceChildren();
    const lastPage = entries.filter((e) => e.sender === "page").pop();
    if (!lastPage || lastPage.tapped) return;
    lastPage.buttons.filter((b) => b.kind === "quick_reply").forEach((b) => {
      const chip = el("button", "", b.title);
      chip.type = "button";
      chip.dataset.testid = "sim-quick-reply";
      chip.addEventListener("click", () => tap(lastPage.id, b.index));
      chips.append(chip);
    });
  }

  async function refresh() {
    let data;
    try {
      const resp = await fetch(base + "/sim/api/state?platform=" + platform + "&user=" + encodeURIComponent(user),
                               {cache: "no-store"});
      data = await resp.json();
    } catch (e) {
      state.textContent = "(simulator unreachable)";
      return;
    }
    window.__entries = {};
    data.entries.forEach((e) => { window.__entries[e.id] = e; });
    const linked = platform === "messenger" ? (data.user.linked ? "Linked to the business." : "Not linked yet.") : "";
    const hook = data.subscribed === false ? " Webhook subscription failed." : "";
    state.textContent = linked + hook;
    const key = JSON.stringify(data.entries);
    if (key === last) return;
    last = key;
    log.replaceChildren(...data.entries.map(draw));
    drawChips(data.entries);
    log.scrollTop = log.scrollHeight;
    if (platform === "whatsapp" && data.entries.some((e) => e.sender === "page" && e.status === "delivered")) {
      post("/sim/api/read", {});
    }
  }

  document.querySelector(".sim-composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("sim-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await post("/sim/api/say", {text: text});
    refresh();
  });

  refresh();
  setInterval(refresh, 700);
})();
