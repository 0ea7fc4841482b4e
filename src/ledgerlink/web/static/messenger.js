// Live updates for the web messenger: resume from the revs on the page, then stream.
// Protocol: docs/messenger.md. No framework, no build step.
(function () {
  "use strict";

  var app = document.getElementById("app");
  if (!app) return;
  var currentThread = app.getAttribute("data-current-thread");
  var messagesBox = document.getElementById("messages");
  var statusEl = document.getElementById("conn-status");
  var revs = {};          // thread id -> highest rev this page has seen
  var lastSeq = {};       // thread id -> highest message seq known (read state: unread = lastSeq - lastRead)
  var lastRead = {};      // thread id -> last seq read, on any tab or device
  var ready = false;      // the live stream is caught up (frames may be sent)
  var socket = null;
  var attempt = 0;
  var reconnectTimer = null;
  var everConnected = false;

  function bumpRev(threadId, rev) {
    if (!(threadId in revs) || rev > revs[threadId]) revs[threadId] = rev;
  }

  function threadLink(threadId) {
    return document.querySelector('.thread-link[data-thread-id="' + CSS.escape(threadId) + '"]');
  }

  function readCounters(a) {
    // A thread link's read state as the server rendered it; counters only move forward.
    var id = a.getAttribute("data-thread-id");
    var seq = parseInt(a.getAttribute("data-last-seq") || "0", 10);
    var read = seq - parseInt(a.getAttribute("data-unread") || "0", 10);
    if (!(id in lastSeq) || seq > lastSeq[id]) lastSeq[id] = seq;
    if (!(id in lastRead) || read > lastRead[id]) lastRead[id] = read;
  }

  function setBadge(threadId) {
    var link = threadLink(threadId);
    if (!link) return;
    var n = Math.max(0, (lastSeq[threadId] || 0) - (lastRead[threadId] || 0));
    link.classList.toggle("unread", n > 0);
    link.setAttribute("data-unread", String(n));
    var badge = link.querySelector(".unread-dot");
    if (badge) {
      badge.textContent = n > 0 ? String(n) : "";
      badge.setAttribute("aria-label", n + " unread");
    }
  }

  // The page's starting point: every thread's rev from the list, and every shown message.
  document.querySelectorAll(".thread-link[data-thread-id]").forEach(function (a) {
    bumpRev(a.getAttribute("data-thread-id"), parseInt(a.getAttribute("data-last-rev") || "0", 10));
    readCounters(a);
  });
  document.querySelectorAll(".chat .msg[data-rev]").forEach(function (m) {
    bumpRev(m.getAttribute("data-thread-id"), parseInt(m.getAttribute("data-rev"), 10));
  });

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  function nearBottom() {
    return messagesBox.scrollHeight - messagesBox.scrollTop - messagesBox.clientHeight < 120;
  }

  function scrollDown() {
    messagesBox.scrollTop = messagesBox.scrollHeight;
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  // Day groups (issue 13): a card lands in the group of its day on the calendar of the
  // person's IANA zone (as the server renders it), made on the fly for a new day; groups and
  // cards stay in seq order. A live card's clock time is shown in that zone too.
  var todayIso = messagesBox ? messagesBox.getAttribute("data-today") : null;
  var pageLocale = (messagesBox && messagesBox.getAttribute("data-locale")) || "en-US";
  var pageZone = (messagesBox && messagesBox.getAttribute("data-zone")) || "UTC";
  var dayParts, clock;
  try {
    dayParts = new Intl.DateTimeFormat("en-CA", { timeZone: pageZone, year: "numeric", month: "2-digit", day: "2-digit" });
    clock = new Intl.DateTimeFormat("en-GB", { timeZone: pageZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  } catch (e) {
    pageZone = "UTC";
    dayParts = new Intl.DateTimeFormat("en-CA", { timeZone: "UTC", year: "numeric", month: "2-digit", day: "2-digit" });
    clock = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function isoDay(stamp) {
    var d = new Date(stamp);
    if (isNaN(d.getTime())) return todayIso;
    return dayParts.format(d);  // en-CA formats as YYYY-MM-DD
  }

  function localClock(el) {
    var time = el.querySelector(".msg-foot time");
    var d = time ? new Date(time.getAttribute("datetime")) : null;
    if (d && !isNaN(d.getTime())) time.textContent = clock.format(d);
  }

  function dayLabel(iso) {
    if (iso === todayIso) return "Today";
    var t = new Date(todayIso + "T00:00:00Z");
    if (new Date(iso + "T00:00:00Z").getTime() === t.getTime() - 86400000) return "Yesterday";
    return new Intl.DateTimeFormat(pageLocale, { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" })
      .format(new Date(iso + "T00:00:00Z"));
  }

  function dayGroup(iso) {
    var groups = messagesBox.querySelectorAll(".day[data-day]");
    var before = null;
    for (var i = 0; i < groups.length; i++) {
      var d = groups[i].getAttribute("data-day");
      if (d === iso) return groups[i];
      if (d > iso && before === null) before = groups[i];
    }
    var g = document.createElement("div");
    g.className = "day";
    g.setAttribute("data-day", iso);
    g.setAttribute("data-testid", "day-" + iso);
    var h = document.createElement("h2");
    h.className = "day-sep";
    var span = document.createElement("span");
    span.setAttribute("data-testid", "day-label");
    span.textContent = dayLabel(iso);
    h.appendChild(span);
    g.appendChild(h);
    messagesBox.insertBefore(g, before);
    return g;
  }

  function placeInDay(el) {
    var time = el.querySelector(".msg-foot time");
    var group = dayGroup(isoDay(time ? time.getAttribute("datetime") : ""));
    var seq = parseInt(el.getAttribute("data-seq"), 10);
    var after = null;
    var cards = group.querySelectorAll(":scope > .msg[data-seq]");
    for (var i = 0; i < cards.length; i++) {
      if (parseInt(cards[i].getAttribute("data-seq"), 10) > seq) { after = cards[i]; break; }
    }
    group.insertBefore(el, after);
    return after;
  }

  function foldAlert(el) {
    // An alert about a purchase on the page becomes a badge and a line on that purchase's card.
    var txnId = el.getAttribute("data-about-txn");
    if (!txnId) return false;
    var card = document.querySelector('#messages .msg[data-txn="' + CSS.escape(txnId) + '"]');
    var box = card && card.querySelector(".txn-alerts");
    if (!box) return false;
    var id = el.getAttribute("data-message-id");
    var line = box.querySelector('[data-alert-id="' + CSS.escape(id) + '"]');
    if (!line) {
      line = document.createElement("p");
      line.className = "txn-alert";
      line.setAttribute("data-testid", "txn-alert");
      line.setAttribute("data-alert-id", id);
      box.appendChild(line);
    }
    var badge = document.createElement("span");
    var kind = el.getAttribute("data-alert") || "";
    badge.className = "badge badge-" + kind;
    badge.textContent = ({ large_purchase: "Large purchase", fee: "Fee", deposit: "Deposit",
      abroad: "Abroad", online: "Online" })[kind] || "Alert";
    var text = el.querySelector('[data-testid="message-text"]');
    line.replaceChildren(badge, document.createTextNode(" " + (text ? text.textContent : "")));
    return true;
  }

  function showMessage(frame) {
    var el = fragment(frame.html);
    if (!el) return;
    localClock(el);
    var stick = nearBottom();
    if (foldAlert(el)) return;
    var existing = document.getElementById("m-" + frame.message_id);
    var pins = document.getElementById("pin-prompts");
    if (existing) {
      // An edit: the same message, a newer rev. Swap it where it stands.
      // Update the element itself (not a new node), so it keeps its place, focus and listeners.
      if (parseInt(existing.getAttribute("data-rev"), 10) >= frame.rev) return;
      var keep = existing.querySelector(".txn-alerts");  // folded alerts outlive an edit
      Array.prototype.slice.call(existing.attributes).forEach(function (a) {
        if (!el.hasAttribute(a.name)) existing.removeAttribute(a.name);
      });
      Array.prototype.slice.call(el.attributes).forEach(function (a) {
        existing.setAttribute(a.name, a.value);
      });
      existing.replaceChildren.apply(existing, Array.prototype.slice.call(el.childNodes));
      var fresh = existing.querySelector(".txn-alerts");
      if (keep && fresh && keep.children.length) fresh.replaceWith(keep);
      existing.classList.add("flash");
      if (pins && pins.contains(existing) && existing.getAttribute("data-prompt-status") !== "open") {
        placeInDay(existing);  // answered: back into the conversation, on the day it came
      }
      return;
    }
    var empty = document.getElementById("empty");
    if (empty) empty.remove();
    el.classList.add("arrived");
    if (pins && el.getAttribute("data-kind") === "fraud" && el.getAttribute("data-prompt-status") === "open") {
      pins.appendChild(el);
      return;
    }
    var after = placeInDay(el);
    if (stick || !after) scrollDown();
  }

  function chatVisible() {
    // The open thread is on screen: the tab is visible and (on a phone) not on the list.
    return document.visibilityState === "visible" && messagesBox !== null && messagesBox.offsetParent !== null;
  }

  function markRead() {
    // Tell the server the open thread was seen up to its last message: over the live
    // connection, or by POST while it is down. Other tabs get the new count pushed.
    if (!currentThread || !chatVisible()) return;
    var seq = lastSeq[currentThread] || 0;
    if (seq <= (lastRead[currentThread] || 0)) return;
    lastRead[currentThread] = seq;
    setBadge(currentThread);
    if (socket !== null && ready && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "read", thread_id: currentThread, seq: seq }));
      return;
    }
    var csrf = document.querySelector('#composer input[name="csrf"]');
    if (!csrf) return;
    var data = new FormData();
    data.set("csrf", csrf.value);
    data.set("seq", String(seq));
    fetch("/threads/" + encodeURIComponent(currentThread) + "/read", {
      method: "POST", headers: { "Accept": "application/json" }, body: data, credentials: "same-origin"
    }).catch(function () { /* marked again on the next message or reconnect */ });
  }

  function reloadThreadList() {
    fetch("/threads/" + encodeURIComponent(currentThread) + "?peek=1", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("thread-list");
        var list = document.getElementById("thread-list");
        if (!fresh || !list) return;
        list.replaceWith(fresh);
        fresh.querySelectorAll(".thread-link[data-thread-id]").forEach(function (a) {
          readCounters(a);
          setBadge(a.getAttribute("data-thread-id"));
        });
      })
      .catch(function () { /* the next frame or reconnect tries again */ });
  }

  function applyThread(frame) {
    var link = threadLink(frame.thread_id);
    if (!link) {
      bumpRev(frame.thread_id, 0);
      reloadThreadList();
      return;
    }
    link.classList.toggle("inactive", !frame.active);
    link.setAttribute("data-active", frame.active ? "true" : "false");
    var state = link.querySelector(".thread-state");
    if (state) state.textContent = frame.active ? "" : "unlinked";
    if (frame.thread_id === currentThread && !frame.active) {
      var form = document.querySelector(".unlink-form");
      if (form) form.remove();
      var sub = document.querySelector('[data-testid="thread-status"]');
      if (sub) sub.textContent = "Unlinked";
    }
  }

  function onFrame(frame) {
    if (frame.type === "message") {
      bumpRev(frame.thread_id, frame.rev);
      if (!(frame.thread_id in lastSeq) || frame.seq > lastSeq[frame.thread_id]) lastSeq[frame.thread_id] = frame.seq;
      if (frame.thread_id === currentThread) {
        showMessage(frame);
        markRead();
      } else if (!threadLink(frame.thread_id)) {
        reloadThreadList();
      }
      setBadge(frame.thread_id);
    } else if (frame.type === "read") {
      if (!(frame.thread_id in lastRead) || frame.last_read_seq > lastRead[frame.thread_id]) {
        lastRead[frame.thread_id] = frame.last_read_seq;
      }
      setBadge(frame.thread_id);
    } else if (frame.type === "thread") {
      applyThread(frame);
    } else if (frame.type === "ready") {
      attempt = 0;
      ready = true;
      setStatus("live", "");
      markRead();
    }
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    var delay = Math.min(5000, 250 * Math.pow(2, attempt)) * (0.8 + Math.random() * 0.4);
    attempt += 1;
    setStatus("reconnecting", "Reconnecting…");
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, delay);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + location.host + "/ws");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    if (!everConnected) setStatus("connecting", "");
    socket.onopen = function () {
      everConnected = true;
      socket.send(JSON.stringify({ type: "resume", threads: revs, all: true }));
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    };
    socket.onclose = function (event) {
      socket = null;
      ready = false;
      if (event.code === 4401) { location.href = "/login"; return; }
      scheduleReconnect();
    };
  }

  // Unlinking asks first; the form posts only when the person confirms.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // The composer sends with fetch; the message and its answer arrive over the live stream.
  var composer = document.getElementById("composer");
  if (composer) {
    // A visible counter and a clear limit: nothing is cut off silently (issue 13).
    var field = composer.querySelector('[name="text"]');
    var counter = document.getElementById("composer-count");
    var max = parseInt(composer.getAttribute("data-max") || "2000", 10);
    var fmt = new Intl.NumberFormat(pageLocale);
    var updateCount = function () {
      var n = field.value.length;
      var over = n > max;
      counter.textContent = over
        ? fmt.format(n) + " / " + fmt.format(max) + " · " + fmt.format(n - max) + " too many characters"
        : fmt.format(n) + " / " + fmt.format(max);
      counter.classList.toggle("over", over);
      field.setAttribute("aria-invalid", over ? "true" : "false");
      composer.querySelector('button[type="submit"]').disabled = over;
      field.style.height = "auto";
      field.style.height = Math.min(field.scrollHeight, 160) + "px";
    };
    field.addEventListener("input", updateCount);
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.querySelectorAll("[data-chip]").forEach(function (chip) {
      chip.addEventListener("click", function () {
        field.value = chip.getAttribute("data-chip");
        updateCount();
        composer.requestSubmit();
      });
    });
    updateCount();
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = composer.querySelector('[name="text"]');
      var text = input.value.trim();
      if (!text || input.value.length > max) return;
      composer.removeAttribute("data-error");
      var button = composer.querySelector('button[type="submit"]');
      button.disabled = true;
      fetch(composer.action, {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: new FormData(composer),
        credentials: "same-origin"
      }).then(function (r) {
        if (r.status === 204) { input.value = ""; updateCount(); return; }
        if (r.status === 401) { location.href = "/login"; return; }
        return r.json().then(function (p) { composer.setAttribute("data-error", p.detail || p.code); });
      }).catch(function () {
        composer.setAttribute("data-error", "not sent: connection lost");
      }).then(function () { button.disabled = false; input.focus(); });
    });
  }

  // Quick replies (a bank's "Was this you?"): sent with fetch and the page's CSRF token; the
  // card is edited in place over the live stream. Errors show on the card.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".reply-form button");
    if (!button) return;
    event.preventDefault();
    var form = button.closest("form");
    var data = new FormData(form);
    data.set("reply_id", button.value);
    var csrf = document.querySelector('#composer input[name="csrf"]');
    if (csrf) data.set("csrf", csrf.value);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST", headers: { "Accept": "application/json" }, body: data, credentials: "same-origin"
    }).then(function (r) {
      if (r.status === 204) return;
      if (r.status === 401) { location.href = "/login"; return; }
      return r.json().then(function (p) {
        form.setAttribute("data-error", p.detail || p.code);
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      });
    }).catch(function () {
      form.setAttribute("data-error", "not sent: connection lost");
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  // A card action that changes state (renewing a consent) is a plain form POST: it goes with
  // the page's CSRF token (without it the server answers a confirmation page instead).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("action-form")) return;
    var token = document.querySelector('input[name="csrf"]');
    if (!token || form.querySelector('input[name="csrf"]')) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf";
    input.value = token.value;
    form.appendChild(input);
  });

  document.addEventListener("visibilitychange", function () {
    markRead();
    if (document.visibilityState === "visible" && socket === null && reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      connect();
    }
  });

  markRead();
  scrollDown();
  connect();
})();
