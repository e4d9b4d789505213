// Signing with the USB token on this PC, from the sign page: the local signing agent
// (`sohoa sign-agent --serve`, signing/local_agent.py) holds the token and its PIN; this script
// only carries bytes between it and the service: the token's certificates to the service's
// prepare step, the bytes to sign to the agent (the clerk confirms at its console), its
// signature to the service's complete step. Then the signature panel with its verdict.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const lang = document.documentElement.lang === "en" ? "en" : "vi";
  const fill = (text, fields) => text.replace(/\{(\w+)\}/g, (all, key) => (key in fields ? fields[key] : all));
  const PORT = "sohoa.sign-agent.port";  // the agent's port on this PC, remembered once it answered

  class NoAgent extends Error {}  // nothing answered: not running, or started for another --origin

  async function answer(response) {  // a 2xx's JSON, else an Error with the message for this language
    let body = {};
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    if (response.ok) return body;
    throw new Error(body["detail_" + lang] || body.detail || String(response.status));
  }

  async function agent(base, path, body) {
    const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    let response;
    try { response = await fetch(base + path, init); } catch (e) { throw new NoAgent(); }
    return answer(response);
  }

  // The service, as the page's other API calls: the session cookie and its CSRF token.
  function service(url, body) {
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    return fetch(url, { method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body) }).then(answer);
  }

  async function sign(form, say) {
    const d = form.dataset;
    const port = form.elements.agent_port.value.trim();
    const base = "http://127.0.0.1:" + port;
    say(d.asking);
    const { certificates } = await agent(base, "/certificates");
    localStorage.setItem(PORT, port);
    const body = { certificates };
    const pages = form.elements.paper_pages;  // a component: the officer vouches for the copy
    if (pages) Object.assign(body, { page_count: Number(pages.value), pages_readable: form.elements.paper_readable.checked });
    say(d.preparing);
    const prepared = await service(d.prepare, body);
    say(d.confirm);
    const asked = { to_be_signed: prepared.to_be_signed, dossier: d.code, document: Number(d.document), page_count: body.page_count ?? null };
    const { signature } = await agent(base, "/sign", asked);
    say(d.completing);
    await service(prepared.complete_url, { signature });
    location.assign(d.done);  // the signature panel: every signature with its verdict
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList.contains("token-sign")) return;
    event.preventDefault();
    const state = form.querySelector(".token-state");
    const button = form.querySelector("button[type=submit]");
    const say = (text, bad) => { state.textContent = text; state.className = "token-state" + (bad ? " flash error" : ""); };
    button.disabled = true;
    sign(form, say).catch((error) => {
      const port = form.elements.agent_port.value.trim();
      say(error instanceof NoAgent ? fill(form.dataset.noAgent, { port }) : form.dataset.failed + ": " + error.message, true);
      button.disabled = false;
    });
  });

  // The command shown names this page's own origin (what the browser sends, behind any proxy)
  // and the port; forms that arrive with a refreshed documents panel get the same.
  function settle() {
    document.querySelectorAll("form.token-sign:not([data-settled])").forEach((form) => {
      form.dataset.settled = "1";
      form.elements.agent_port.value = localStorage.getItem(PORT) || form.elements.agent_port.value;
      form.querySelector(".token-port").textContent = form.elements.agent_port.value;
      form.querySelector(".token-origin").textContent = location.origin;
    });
  }
  document.addEventListener("input", (event) => {
    const form = event.target.closest("form.token-sign");
    if (form && event.target.name === "agent_port") form.querySelector(".token-port").textContent = event.target.value;
  });
  settle();
  new MutationObserver(settle).observe(document.body, { childList: true, subtree: true });
})();
