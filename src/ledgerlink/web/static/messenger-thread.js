// The open thread's cards (issue 13): day groups on the person's calendar, alerts folded into
// their purchase, edits swapped in place, open prompts pinned on top. Used by messenger.js for
// every card the live stream brings. No framework, no build step.
(function () {
  "use strict";

  var messagesBox = document.getElementById("messages");
  if (!messagesBox) return;

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

  window.LLThread = { showMessage: showMessage, scrollDown: scrollDown };
})();
