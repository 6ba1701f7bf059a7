// vsr's page: the job API (/api/...) and one event stream. Text from the server goes into the
// page as text (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { input: null, probe: null, info: null, rendered: new Map() };

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, { method = "GET", json } = {}) {
  const init = { method, headers: {} };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function say(message) { $("form-message").textContent = message || ""; }

function seconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// -- set-up ---------------------------------------------------------------------------------------

async function start() {
  const info = state.info = await api("/api/info");
  $("version").textContent = info.version;
  fill($("model"), info.models.map((m) => [m.name, `${m.name} (×${m.scale})`]));
  fill($("compare"), [["", "the input, resized"], ...info.models.map((m) => [m.name, m.name])]);
  fill($("format"), info.formats.map((f) => [f, f]));
  $("format").value = "mkv";
  fill($("precision"), info.precisions.map((p) => [p, p]));
  fill($("backend"), info.backends.map((b) => [b, b]));
  $("tab-folders").disabled = info.roots.length === 0;
  if (info.roots.length === 0) $("tab-folders").title = "start vsr serve with --root DIR to read files on the server";
  await loadPresets();
  listen();
}

function fill(select, pairs) {
  select.replaceChildren(...pairs.map(([value, label]) => el("option", { value, text: label })));
}

// -- the input ------------------------------------------------------------------------------------

function showTab(which) {
  $("tab-upload").setAttribute("aria-selected", which === "upload");
  $("tab-folders").setAttribute("aria-selected", which === "folders");
  $("pane-upload").hidden = which !== "upload";
  $("pane-folders").hidden = which !== "folders";
  if (which === "folders") browse(null);
}

function upload(file) {
  say("");
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/uploads?name=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  xhr.onload = () => {
    bar.hidden = true;
    const body = JSON.parse(xhr.responseText || "{}");
    if (xhr.status !== 201) return say(body.error || `upload failed (${xhr.status})`);
    choose({ upload: body.upload }, file.name);
  };
  xhr.onerror = () => { bar.hidden = true; say("the upload did not reach the server"); };
  xhr.send(file);
}

async function browse(path) {
  try {
    const listing = await api(path ? `/api/files?path=${encodeURIComponent(path)}` : "/api/files");
    $("folder-path").textContent = listing.path || "the server's folders";
    const items = listing.entries.map((entry) => {
      const item = el("li", { text: entry.name, class: entry.folder ? "folder" : "" });
      item.onclick = () => (entry.folder ? browse(entry.path) : pick(item, entry));
      return item;
    });
    if (listing.path) {
      const whole = el("li", { text: "✓ this whole folder" });
      whole.onclick = () => pick(whole, { path: listing.path, name: listing.path.split(/[\\/]/).pop() });
      const up = el("li", { text: "⬑ the server's folders", class: "folder" });
      up.onclick = () => browse(null);
      items.unshift(up, whole);
    }
    $("folder-list").replaceChildren(...items);
  } catch (e) { say(e.message); }
}

function pick(item, entry) {
  for (const other of $("folder-list").children) other.classList.remove("chosen");
  item.classList.add("chosen");
  choose({ input: entry.path }, entry.name);
}

async function choose(input, name) {
  state.input = input;
  state.probe = null;
  $("input-info").textContent = `${name}: reading…`;
  const query = new URLSearchParams(input).toString();
  try {
    const probe = state.probe = await api(`/api/probe?${query}`);
    const stem = name.replace(/\.[^.]+$/, "");
    $("output").placeholder = `${stem}-x.${$("format").value}`;
    if (probe.kind === "folder") {
      $("input-info").textContent = `${name}: a folder; every image and video in it`;
    } else {
      $("input-info").textContent = `${name}: ${probe.kind}, ${probe.width}×${probe.height}` +
        (probe.duration ? `, ${probe.duration.toFixed(2)} s` : "") + (probe.frames ? `, ${probe.frames} frames` : "");
    }
    $("moment").max = probe.duration || 0;
    $("moment").value = 0;
    showMoment();
    $("preview-button").disabled = probe.kind === "folder";
    $("queue-button").disabled = false;
  } catch (e) {
    $("input-info").textContent = "";
    say(e.message);
  }
}

function showMoment() { $("moment-shown").textContent = `${Number($("moment").value).toFixed(2)} s`; }

// -- the options ----------------------------------------------------------------------------------

const NUMBERS = new Set(["scale", "temporal_blend", "segment_seconds"]);
const WHOLE = new Set(["crf", "workers"]);

function options() {
  const form = new FormData($("options"));
  const out = {};
  for (const [name, raw] of form.entries()) {
    const value = String(raw).trim();
    if (name === "format" || name === "output" || value === "") continue;
    if (NUMBERS.has(name)) out[name] = Number(value);
    else if (WHOLE.has(name)) out[name] = parseInt(value, 10);
    else out[name] = value;
  }
  return out;
}

function outputName() {
  const given = $("output").value.trim();
  if (given) return given.includes(".") ? given : `${given}.${$("format").value}`;
  return $("output").placeholder.replace(/\.[^.]+$/, `.${$("format").value}`);
}

function setOptions(given) {
  const form = $("options");
  for (const field of form.elements) {
    if (!field.name || field.name === "format" || field.name === "output") continue;
    if (field.name in given) field.value = given[field.name] ?? "";
  }
}

async function loadPresets() {
  const { presets } = await api("/api/presets");
  state.presets = presets;
  fill($("preset"), [["", "—"], ...Object.keys(presets).map((n) => [n, n])]);
}

// -- preview --------------------------------------------------------------------------------------

async function preview() {
  say("");
  const button = $("preview-button");
  button.disabled = true;
  $("preview-info").textContent = "Upscaling one frame…";
  const time = Number($("moment").value);
  const opts = options();
  try {
    const shown = await api("/api/preview", { method: "POST", json: { ...state.input, time, options: opts } });
    let left = shown.before, leftLabel = "input, resized (bicubic)";
    const other = $("compare").value;
    if (other) {
      const second = await api("/api/preview", { method: "POST",
        json: { ...state.input, time, options: { ...opts, model: other } } });
      left = second.after;
      leftLabel = other;
    }
    $("before").src = left;
    $("after").src = shown.after;
    $("left-label").textContent = leftLabel;
    $("right-label").textContent = opts.model || $("model").value;
    $("compare-box").hidden = false;
    $("preview-info").textContent = `Frame at ${shown.time.toFixed(2)} s, ${shown.width}×${shown.height}`;
    split();
  } catch (e) {
    $("preview-info").textContent = "";
    say(e.message);
  } finally {
    button.disabled = false;
  }
}

// The left image lies over the right one, clipped to the split; both at the same width (the
// frame's, or the output's own pixels with 1:1).
function split() {
  const width = $("after").getBoundingClientRect().width;
  const at = width * Number($("split").value) / 100;
  $("before-clip").style.width = `${at}px`;
  $("before").style.width = `${width}px`;
  $("split-line").style.left = `${at}px`;
}

// -- jobs -----------------------------------------------------------------------------------------

async function queue() {
  say("");
  try {
    await api("/api/jobs", { method: "POST", json: { ...state.input, output: outputName(), options: options() } });
  } catch (e) { say(e.message); }
}

function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (message) => render(JSON.parse(message.data));
}

function render({ jobs, queue: q }) {
  $("queue-summary").textContent = jobs.length === 0 ? "no jobs yet"
    : `${q.running} running, ${q.queued} queued` + (q.running + q.queued ? ` · queue done in ${seconds(q.eta_seconds)}` : "");
  const list = $("jobs");
  const keep = new Set(jobs.map((j) => j.id));
  for (const [id, node] of state.rendered) if (!keep.has(id)) { node.remove(); state.rendered.delete(id); }
  jobs.forEach((job, index) => {
    let node = state.rendered.get(job.id);
    if (!node) {
      node = el("li", { id: `job-${job.id}` });
      state.rendered.set(job.id, node);
    }
    if (node.dataset.version !== JSON.stringify([job.state, job.frames_done, job.stage, job.fps, job.note, job.error])) {
      node.dataset.version = JSON.stringify([job.state, job.frames_done, job.stage, job.fps, job.note, job.error]);
      fillJob(node, job);
    }
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
}

function fillJob(node, job) {
  const name = job.input.split(/[\\/]/).pop();
  const parts = [el("div", { class: "job-head" }, [
    el("span", { class: "job-name", text: `${name} → ${job.output}` }),
    el("span", { class: `state ${job.state}`, text: job.state === "running" ? job.stage || "running" : job.state }),
  ])];
  const total = job.frames_total || 0;
  if (job.state === "running" || job.state === "queued" || (job.state !== "done" && job.frames_done)) {
    parts.push(el("progress", { class: "job-progress", max: total || 1, value: total ? job.frames_done : 0 }));
  }
  let line = total ? `${job.frames_done} / ${total} frames` : `${job.frames_done} frames`;
  if (job.state === "running") {
    line += job.fps ? ` · ${job.fps.toFixed(2)} fps · ${seconds(job.eta_seconds)} left` : " · measuring speed…";
  }
  if (job.state === "done" && job.summary) {
    const s = job.summary;
    line = s.frames !== undefined
      ? `${s.frames} frames, ${s.input_size.join("×")} → ${s.output_size.join("×")} in ${seconds(s.seconds)} ` +
        `(${s.fps.toFixed(2)} fps, ${s.backend}, ${s.precision})` + (s.segments_resumed ? ` · ${s.segments_resumed} segments resumed` : "")
      : `${s.files.length} files`;
  }
  parts.push(el("p", { class: "job-line", text: line }));
  if (job.note) parts.push(el("p", { class: "job-line", text: job.note }));
  if (job.error) parts.push(el("p", { class: "error", text: job.error }));
  for (const warning of job.warnings || []) parts.push(el("p", { class: "warning", text: `warning: ${warning}` }));
  const actions = el("div", { class: "job-actions" });
  const act = (label, fn) => { const b = el("button", { type: "button", text: label }); b.onclick = fn; actions.append(b); };
  if (job.state === "queued") {
    act("Run next", () => api(`/api/jobs/${job.id}/move`, { method: "POST", json: { to: 0 } }).catch((e) => say(e.message)));
  }
  if (job.state === "queued" || job.state === "running") {
    act("Cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).catch((e) => say(e.message)));
  }
  if (job.state === "failed" || job.state === "cancelled") {
    act("Retry", () => api(`/api/jobs/${job.id}/retry`, { method: "POST" }).catch((e) => say(e.message)));
  }
  act("Delete", () => api(`/api/jobs/${job.id}`, { method: "DELETE" }).catch((e) => say(e.message)));
  if (job.state === "done" && job.summary && job.summary.frames !== undefined) {
    actions.append(el("a", { href: `/api/jobs/${job.id}/result?download=1`, text: "Download", download: job.output }));
  }
  parts.push(actions);
  if (job.state === "done" && job.summary && job.summary.frames !== undefined) {
    const src = `/api/jobs/${job.id}/result`;
    const media = /\.(mp4|mkv|webm|mov)$/i.test(job.output)
      ? el("video", { src, controls: true, preload: "metadata", className: "result-video" })
      : el("img", { src, alt: job.output });
    parts.push(el("div", { class: "result" }, [media]));
    const details = el("details", {}, [el("summary", { text: "Summary (--json)" }),
      el("pre", { text: JSON.stringify(job.summary, null, 2) })]);
    parts.push(details);
  }
  node.replaceChildren(...parts);
}

// -- wiring ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("tab-upload").onclick = () => showTab("upload");
  $("tab-folders").onclick = () => showTab("folders");
  $("file").onchange = (e) => e.target.files[0] && upload(e.target.files[0]);
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); };
  $("moment").oninput = showMoment;
  $("preview-button").onclick = preview;
  $("queue-button").onclick = queue;
  $("split").oninput = split;
  $("after").onload = split;
  window.addEventListener("resize", split);
  $("zoom").onchange = () => { $("compare-frame").classList.toggle("actual", $("zoom").checked); split(); };
  $("format").onchange = () => { $("output").placeholder = $("output").placeholder.replace(/\.[^.]+$/, `.${$("format").value}`); };
  $("preset").onchange = () => { const p = state.presets[$("preset").value]; if (p) setOptions(p); };
  $("preset-save").onclick = async () => {
    const name = prompt("Save these options as");
    if (!name) return;
    try { await api(`/api/presets/${encodeURIComponent(name)}`, { method: "PUT", json: { options: options() } }); await loadPresets(); $("preset").value = name; }
    catch (e) { say(e.message); }
  };
  $("preset-delete").onclick = async () => {
    const name = $("preset").value;
    if (!name) return;
    try { await api(`/api/presets/${encodeURIComponent(name)}`, { method: "DELETE" }); await loadPresets(); }
    catch (e) { say(e.message); }
  };
  start().catch((e) => say(e.message));
});
