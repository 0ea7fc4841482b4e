// Live updates for the web messenger: resume from the revs on the page, then stream; read
// state and unread badges across tabs. Protocol: docs/messenger.md. The cards themselves are
// placed by messenger-thread.js, the forms are messenger-forms.js. No framework, no build step.
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


  var thread = window.LLThread || { showMessage: function () {}, scrollDown: function () {} };

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
        thread.showMessage(frame);
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

  function scheduleReconnect(hintMs) {
    if (reconnectTimer !== null) return;
    var delay = Math.min(5000, 250 * Math.pow(2, attempt)) * (0.8 + Math.random() * 0.4);
    // 1013 "try again later" from a busy gateway: its hint (already jittered) wins
    if (typeof hintMs === "number" && hintMs > 0) delay = Math.min(hintMs, 30000);
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
      var hint = event.code === 1013 ? /retry_after_ms=(\d+)/.exec(event.reason || "") : null;
      scheduleReconnect(hint ? parseInt(hint[1], 10) : undefined);
    };
  }


  document.addEventListener("visibilitychange", function () {
    markRead();
    if (document.visibilityState === "visible" && socket === null && reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      connect();
    }
  });

  markRead();
  thread.scrollDown();
  connect();
})();
