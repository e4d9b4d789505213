// sohoa's pages: the few live parts (no framework, nothing fetched from elsewhere).
// Uploads and job progress go through the API with the session cookie and its CSRF token.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // A dossier code, checked as it is typed (or typed by a hand scanner, which ends with Enter).
  document.querySelectorAll("input[data-pattern]").forEach((input) => {
    const pattern = new RegExp("^(?:" + input.dataset.pattern + ")$");
    const state = document.getElementById(input.id === "code" ? "code-state" : "");
    const check = () => {
      const ok = pattern.test(input.value.trim());
      input.classList.toggle("bad", input.value !== "" && !ok);
      input.setAttribute("aria-invalid", input.value !== "" && !ok ? "true" : "false");
      if (state) {
        state.textContent = input.value === "" ? "" : ok ? state.dataset.ok : state.dataset.bad;
        state.className = ok ? "ok" : "bad";
      }
      return ok;
    };
    input.addEventListener("input", check);
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      if (!check()) { event.preventDefault(); return; }
      const next = input.dataset.enterNext && document.getElementById(input.dataset.enterNext);
      if (next) { event.preventDefault(); next.focus(); }  // a scanned code: go on to the details
    });
  });

  // Uploads in pieces through the API's upload sessions (service/resumable.py), one file after
  // another, a progress bar each. The file's SHA-256 comes first, read a piece at a time with
  // hash-wasm (web/static/vendor): crypto.subtle hashes only a whole buffer, a 500 MB scan at once,
  // and is missing on a plain-HTTP office address. Then pieces from the offset the server holds; a
  // dropped line or a server restart waits (1, 2, 4 … 30 s), asks the server its offset, goes on.
  // A new scan of a failed document (its form's data-replaces) goes the same way.
  const MiB = 1 << 20;
  const lang = document.documentElement.lang === "en" ? "en" : "vi";
  const fill = (text, fields) => text.replace(/\{(\w+)\}/g, (all, key) => (key in fields ? fields[key] : all));
  const pause = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

  class Answer extends Error {  // an answer other than 2xx; ``again``: asking again may succeed
    constructor(status, body, xhr) {
      super(body["detail_" + lang] || body.detail || String(status || ""));
      this.status = status; this.body = body; this.code = (body.type || "").split(":").pop();
      this.wait = Number(xhr.getResponseHeader("Retry-After")) || 0;
      this.again = status === 0 || status === 408 || status === 429 || status >= 500 || this.code === "upload-completing";
    }
  }

  // One request with the session's CSRF token (an XHR: fetch reports no upload progress).
  function call(method, url, body, headers, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      Object.entries(headers || {}).forEach(([name, value]) => xhr.setRequestHeader(name, value));
      if (progress) xhr.upload.onprogress = (e) => progress(e.loaded);
      xhr.onload = () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(answer); else reject(new Answer(xhr.status, answer, xhr));
      };
      xhr.onerror = () => reject(new Answer(0, {}, xhr));
      xhr.send(body === undefined ? null : body);
    });
  }

  async function sha256(file, piece, shown) {
    const hasher = (await hashwasm.createSHA256()).init();
    for (let at = 0; at < file.size; at += piece) {
      hasher.update(new Uint8Array(await file.slice(at, at + piece).arrayBuffer()));
      shown(Math.min(file.size, at + piece));
    }
    return hasher.digest("hex");
  }

  // The sessions not completed yet, kept in localStorage so that a reload or a crashed browser
  // loses nothing: the same file picked again (the same person, dossier, document replaced, name,
  // size and time) goes on from the offset the server holds, not hashed again (completing checks
  // the SHA-256 anyway). An entry goes once its file is in, or when the server no longer has it;
  // another person's session is not theirs to go on with (the server answers 404: a new one).
  const KEPT = "sohoa.upload:";
  const kept = {
    key: (target, file) => KEPT + JSON.stringify([target.who, target.code, target.replaces || 0, file.name, file.size, file.lastModified]),
    get(key) {
      try {
        const entry = JSON.parse(localStorage.getItem(key) || "null");
        return entry && Date.parse(entry.expires_at) > Date.now() ? entry : null;
      } catch (e) { return null; }  // storage turned off: uploads still work, without this
    },
    put(key, upload) {
      const entry = { url: upload.upload_url, sha256: upload.sha256, expires_at: upload.expires_at };
      try { localStorage.setItem(key, JSON.stringify(entry)); } catch (e) { /* full or turned off */ }
    },
    drop(key) { try { localStorage.removeItem(key); } catch (e) { /* turned off */ } },
  };
  try {  // the expired ones: the server has swept them
    Object.keys(localStorage).filter((k) => k.startsWith(KEPT) && !kept.get(k)).forEach((k) => kept.drop(k));
  } catch (e) { /* turned off */ }

  // A file's line in the list: its name, a progress bar (bytes hashed, then bytes the server holds), its state.
  function line(list, file, texts) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("progress");
    const note = document.createElement("span");  // what stays said (an upload taken up again)
    const state = document.createElement("span");
    label.textContent = file.name;
    bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    item.append(label, bar, note, state);
    list.append(item);
    return {
      item,
      bar: (bytes) => { bar.value = bytes; },
      note: (key, fields) => { note.textContent = fill(texts[key], fields || {}) + " — "; note.className = "note"; },
      say: (key, fields, detail) => {
        state.textContent = fill(texts[key], fields || {}) + (detail ? ": " + detail : "");
        state.className = key === "failed" ? "flash error" : "";
      },
    };
  }

  // Send ``file`` to ``target`` (its dossier, kind, the document it replaces); the API's answer (its jobs) once in.
  async function resumable(file, target, shown, piece) {
    const key = kept.key(target, file), found = kept.get(key);
    let upload = found ? { upload_url: found.url, sha256: found.sha256 } : null;
    let lost = upload !== null, resumed = lost, said = false, tries = 0, fresh = 0, hashed = null;
    const opening = async () => {  // read once, whatever number of sessions it takes
      if (!hashed) { shown.say("hashing"); hashed = await sha256(file, piece, shown.bar); }
      const { code, kind, replaces } = target;
      return JSON.stringify({ code, kind, replaces, name: file.name, size: file.size, sha256: hashed });
    };
    for (;;) {
      try {
        if (!upload) upload = await call("POST", "/api/v1/uploads", await opening(), { "Content-Type": "application/json" });
        else if (lost) upload = await call("GET", upload.upload_url);  // what the server holds: go on from there
        if (resumed && !said) {  // taken up again after a reload: said once, with what the server holds
          shown.note("resumed", { mb: (upload.offset / MiB).toFixed(1), total: (file.size / MiB).toFixed(1) });
          said = true;
        }
        lost = false;
        kept.put(key, upload);
        while (upload.state === "open" && upload.offset < file.size) {
          const from = upload.offset;
          shown.say("sending"); shown.bar(from);
          const headers = { "Upload-Offset": String(from), "Content-Type": "application/offset+octet-stream" };
          upload = await call("PATCH", upload.upload_url, file.slice(from, from + piece), headers, (n) => shown.bar(from + n));
          kept.put(key, upload);  // its time to expire moves on
          tries = 0;
        }
        shown.say("completing");
        const answer = await call("POST", upload.upload_url + "/complete");
        kept.drop(key);
        return answer;
      } catch (error) {
        if (!(error instanceof Answer)) throw error;
        const gone = upload && error.body.field === "upload_id" && (error.status === 404 || error.status === 410);
        const changed = resumed && error.code === "checksum-mismatch";  // the file kept its name, not its bytes
        if ((gone || changed) && ++fresh <= 3) { kept.drop(key); upload = null; resumed = false; continue; }  // a new session
        if (error.code === "upload-offset") { lost = true; continue; }  // another offset than ours: ask it
        if (!error.again) throw error;
        lost = upload !== null;
        const seconds = error.wait || Math.min(30, 2 ** tries++);
        shown.say("retry", { s: seconds, mb: ((upload && upload.offset ? upload.offset : 0) / MiB).toFixed(1) });
        await pause(seconds);
      }
    }
  }

  function upload_texts(form) {
    const d = form.dataset;
    return { hashing: d.hashing, sending: d.sending, retry: d.retry, completing: d.completing, sent: d.sent, again: d.again,
             failed: d.failed, resumed: d.resumed };
  }

  // The files one after another; ``done`` gets each one's answer (its jobs) and its line.
  let sending = 0;  // files not yet in: leaving the page would stop them, so the browser asks first
  window.addEventListener("beforeunload", (e) => { if (sending) { e.preventDefault(); e.returnValue = ""; } });
  async function send_all(form, code, files, list, done) {
    const piece = Number(form.dataset.piece) || 4 * MiB;
    const kind = form.elements.kind ? form.elements.kind.value : "component";  // a component, or the issued result
    const replaces = Number(form.dataset.replaces) || undefined;  // a new scan of this document
    const target = { who: form.dataset.who || "", code, kind, replaces };
    const texts = upload_texts(form);
    const lines = Array.from(files).map((file) => [file, line(list, file, texts)]);
    sending += lines.length;
    for (const [file, shown] of lines) {
      try {
        const answer = await resumable(file, target, shown, piece);
        shown.bar(file.size);
        shown.say((answer.jobs || []).some((j) => j.created) ? "sent" : "again");
        done(answer, shown.item);
      } catch (error) {
        shown.say("failed", {}, error.message);
      } finally {
        sending--;
      }
    }
  }

  // A scanner station: the dossier code typed or scanned, its files sent, each job followed to its end.
  const station = document.getElementById("station-upload");
  if (station) {
    const list = document.getElementById("station-list");
    const follow = (job, item) => {
      const bar = document.createElement("progress");
      const state = document.createElement("span");
      bar.setAttribute("aria-label", job.id);
      item.append(bar, state);
      const tick = () => fetch("/api/v1/jobs/" + job.id, { credentials: "same-origin" }).then((r) => r.json()).then((now) => {
        bar.max = now.progress.pages_total || 1; bar.value = now.progress.pages_done;
        if (now.status === "done") { state.textContent = station.dataset.done; bar.value = bar.max; return; }
        if (now.status === "failed") { state.textContent = station.dataset.error + ": " + (now.error ? now.error[lang] : ""); return; }
        setTimeout(tick, 1500);
      });
      tick();
    };
    station.addEventListener("submit", (e) => {
      e.preventDefault();
      const code = document.getElementById("station-code").value.trim();
      const files = document.getElementById("station-files");
      send_all(station, code, files.files, list, (answer, item) => (answer.jobs || []).forEach((j) => follow(j, item)));
      files.value = "";
    });
  }

  const upload = document.getElementById("upload");
  if (upload) {
    const input = document.getElementById("files");
    const list = document.getElementById("upload-list");
    const drop = document.getElementById("drop");
    const sendAll = (files) => send_all(upload, upload.dataset.code, files, list, refresh);
    upload.addEventListener("submit", (e) => { e.preventDefault(); if (input.files.length) sendAll(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => sendAll(e.dataTransfer.files));
  }

  // A failed document scanned again (the same number): in pieces like any upload, its line in the page's list.
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form.classList.contains("replace")) return;
    e.preventDefault();
    const input = form.querySelector("input[type=file]");
    if (!input.files.length) return;
    send_all(form, form.dataset.code, [input.files[0]], document.getElementById("upload-list") || form, refresh);
    input.value = "";
  });

  // Live job progress: poll the jobs still queued or running; reload the documents when one ends.
  const documents = document.getElementById("documents");
  function refresh() {
    if (!documents) return;
    fetch(documents.dataset.url, { credentials: "same-origin" })
      .then((r) => r.text())
      .then((html) => { documents.innerHTML = html; });
  }
  function poll() {
    if (!documents) return;
    const waiting = documents.querySelectorAll('article[data-status="queued"], article[data-status="running"]');
    const checks = Array.from(waiting).map((article) =>
      fetch("/api/v1/jobs/" + article.dataset.job, { credentials: "same-origin" })
        .then((r) => r.json())
        .then((job) => {
          const bar = article.querySelector("progress");
          if (bar && job.progress) { bar.max = job.progress.pages_total || 1; bar.value = job.progress.pages_done; }
          return job.status !== article.dataset.status;
        }));
    Promise.all(checks).then((changed) => { if (changed.some(Boolean)) refresh(); })
      .finally(() => setTimeout(poll, 1500));
  }
  if (documents) setTimeout(poll, 1500);

  // Viewer zoom: wider image, the larger rendering once it helps.
  const frame = document.getElementById("page-frame");
  document.querySelectorAll("button[data-zoom]").forEach((button) => button.addEventListener("click", () => {
    const width = Math.max(50, Math.min(400, (parseFloat(frame.style.width) || 100) * parseFloat(button.dataset.zoom)));
    frame.style.width = width + "%";
    const image = document.getElementById("page-image");
    if (width > 120 && image.dataset.big) { image.src = image.dataset.big; delete image.dataset.big; }
  }));
})();
