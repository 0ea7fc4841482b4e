// Passkeys for the second factor (ADR 0021), with the browser's WebAuthn API.
// - A button with data-passkey-get="<url>" inside a form: fetch the options (POST, the form's CSRF
//   token), ask the browser for the passkey, put its answer in the form's [data-passkey-answer]
//   field and submit the form (data-passkey-hold: leave the sending to the form's own button).
// - A form with data-passkey-create="<url>": on submit, fetch the options, let the browser make
//   a passkey, put it in the form's "credential" field, then submit for real.
// Bytes travel as base64url (what py_webauthn's options_to_json writes and its parsers read).
(function () {
  "use strict";
  if (window.ledgerlinkPasskeys) return; // included by several forms of one page
  window.ledgerlinkPasskeys = true;

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function showError(form, words) {
    var box = form.querySelector("[data-passkey-error]") ||
      (form.parentElement && form.parentElement.querySelector("[data-passkey-error]"));
    if (box) { box.textContent = words; box.hidden = false; }
  }

  function clearError(form) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) { box.textContent = ""; box.hidden = true; }
  }

  function words(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey was not used (cancelled, or it timed out). Try again, or use a code.";
    }
    if (error && error.name === "InvalidStateError") return "This device already has a passkey for your account.";
    if (error && error.name === "SecurityError") return "Passkeys work only at this site's own address.";
    return (error && error.message) || "Something went wrong. Please reload the page and try again.";
  }

  async function options(url, form) {
    var body = new FormData();
    var csrf = form.querySelector('input[name="csrf"]');
    var back = form.querySelector('input[name="back"]');
    body.append("csrf", csrf ? csrf.value : "");
    if (back) body.append("back", back.value);
    var response = await fetch(url, { method: "POST", body: body, credentials: "same-origin",
                                      headers: { "Accept": "application/json" } });
    var data = {};
    try { data = await response.json(); } catch (ignored) { /* not JSON: say so below */ }
    if (!response.ok) {
      if (data.confirm) { window.location.assign(data.confirm); }
      throw new Error(data.detail || "Something went wrong. Please reload the page and try again.");
    }
    return data;
  }

  function answer(credential) {
    var r = credential.response;
    var out = { id: credential.id, rawId: toText(credential.rawId), type: credential.type,
                response: { clientDataJSON: toText(r.clientDataJSON) },
                clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {} };
    if (credential.authenticatorAttachment) out.authenticatorAttachment = credential.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function supported(form) {
    if (window.PublicKeyCredential && navigator.credentials) return true;
    showError(form, "This browser cannot use passkeys. Use a code instead.");
    return false;
  }

  document.addEventListener("click", async function (event) {
    var button = event.target.closest && event.target.closest("[data-passkey-get]");
    if (!button) return;
    event.preventDefault();
    var form = button.closest("form");
    if (!form || !supported(form)) return;
    clearError(form);
    button.disabled = true;
    try {
      var publicKey = await options(button.getAttribute("data-passkey-get"), form);
      publicKey.challenge = toBytes(publicKey.challenge);
      (publicKey.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      var credential = await navigator.credentials.get({ publicKey: publicKey });
      form.querySelector("[data-passkey-answer]").value = answer(credential);
      if (button.hasAttribute("data-passkey-hold")) { // the form's own button sends it (erasure)
        button.textContent = "Passkey confirmed";
        return;
      }
      button.disabled = false;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    } catch (error) {
      button.disabled = false;
      showError(form, words(error));
    }
  });

  document.addEventListener("submit", async function (event) {
    var form = event.target;
    var url = form.getAttribute && form.getAttribute("data-passkey-create");
    var field = url && form.querySelector('input[name="credential"]');
    if (!field || field.value) return; // not a passkey form, or its passkey is made: post it
    event.preventDefault();
    if (!supported(form)) return;
    clearError(form);
    var submit = form.querySelector('[type="submit"]');
    if (submit) submit.disabled = true;
    try {
      var publicKey = await options(url, form);
      publicKey.challenge = toBytes(publicKey.challenge);
      publicKey.user.id = toBytes(publicKey.user.id);
      (publicKey.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      var credential = await navigator.credentials.create({ publicKey: publicKey });
      field.value = answer(credential);
      form.submit();
    } catch (error) {
      showError(form, words(error));
      if (submit) submit.disabled = false;
    }
  });
})();
