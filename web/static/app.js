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

  // One XHR per file: a progress bar each (fetch reports no upload progress); ``done`` gets the
  // API's answer (its jobs) once the file is in.
  function send(url, file, list, done) {
    const item = document.createElement("li");
    const bar = document.createElement("progress");
    const label = document.createElement("span");
    bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    label.textContent = file.name;
    const state = document.createElement("span");
    item.append(label, bar, state);
    list.append(item);
    const form = new FormData();
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; } };
    xhr.onload = () => {
      const upload = { dataset: upload_texts(list) };
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 202 || xhr.status === 200) {
        bar.value = bar.max;
        state.textContent = xhr.status === 200 ? upload.dataset.again : upload.dataset.sent;
      } else {
        state.textContent = upload.dataset.failed + ": " + (body.detail || xhr.status);
        state.className = "flash error";
      }
      done(body, item);
    };
    xhr.onerror = () => { state.textContent = upload_texts(list).failed; done({}, item); };
    xhr.send(form);
  }

  function upload_texts(list) {
    return (list.closest("form") || document.getElementById("upload") || document.getElementById("station-upload")).dataset;
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
        if (now.status === "failed") { state.textContent = station.dataset.error + ": " + (now.error ? now.error[document.documentElement.lang === "en" ? "en" : "vi"] : ""); return; }
        setTimeout(tick, 1500);
      });
      tick();
    };
    station.addEventListener("submit", (e) => {
      e.preventDefault();
      const code = document.getElementById("station-code").value.trim();
      const files = document.getElementById("station-files");
      const url = "/api/v1/dossiers/" + encodeURIComponent(code) + "/scans";
      Array.from(files.files).forEach((f) => send(url, f, list, (body, item) => (body.jobs || []).forEach((j) => follow(j, item))));
      files.value = "";
    });
  }

  const upload = document.getElementById("upload");
  if (upload) {
    const input = document.getElementById("files");
    const list = document.getElementById("upload-list");
    const drop = document.getElementById("drop");
    const sendAll = (files) => {
      let left = files.length;
      Array.from(files).forEach((f) => send(upload.dataset.url, f, list, () => { if (--left === 0) refresh(); }));
    };
    upload.addEventListener("submit", (e) => { e.preventDefault(); if (input.files.length) sendAll(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => sendAll(e.dataTransfer.files));
  }

  // A failed document scanned again (the same number).
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form.classList.contains("replace")) return;
    e.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (file) send(form.dataset.url, file, document.getElementById("upload-list") || form, refresh);
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
