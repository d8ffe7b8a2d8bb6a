// The hyperct viewer: upload a CT, follow the study, show it in NiiVue with its findings and,
// for a UniCT run, its report and finding masks.
"use strict";

const WINDOWS = {
  lung: [-1350, 150],        // width 1500, level -600
  mediastinum: [-125, 225],  // width 350, level 50
};
const WAIT_S = 30;  // each status request waits on the server this long for the study to settle

const state = { token: sessionStorage.getItem("hyperct-token") || "", study: null, result: null, overlay: null,
  masksUrl: null };
const $ = (id) => document.getElementById(id);
const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: false, isColorbar: false });
window.hyperctViewer = { nv, state };

function headers() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (response.status === 401) {
    document.querySelector(".token").hidden = false;
    throw new Error("this service needs an API token: enter it at the top right");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function niftiUrl(path) {
  const blob = await (await api(path)).blob();
  return URL.createObjectURL(blob);
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

async function loadModels() {
  const models = await (await api("/v1/models")).json();
  const select = $("model");
  select.replaceChildren(...models.map((m) => {
    const option = text("option", `${m.name} (${m.method})`);
    option.value = m.name;
    return option;
  }));
  $("model-name").textContent = models.map((m) => m.name).join(", ");
}

async function loadStudies() {
  const studies = await (await api("/v1/studies")).json();
  $("studies").replaceChildren(...studies.map((s) => {
    const li = text("li", s.id.slice(0, 10));
    li.title = s.id;
    li.dataset.id = s.id;
    li.append(text("span", s.status, "status"));
    if (state.study === s.id) li.classList.add("selected");
    li.addEventListener("click", () => openStudy(s.id));
    return li;
  }));
}

function upload(event) {
  event.preventDefault();
  const files = $("files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", `/v1/studies?model=${encodeURIComponent($("model").value)}`);
  for (const [key, value] of Object.entries(headers())) request.setRequestHeader(key, value);
  const progress = $("progress");
  progress.hidden = false;
  progress.value = 0;
  request.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; };
  request.onload = () => {
    const body = JSON.parse(request.responseText || "{}");
    if (request.status !== 202) {
      $("upload-status").textContent = `refused: ${body.error || request.status}`;
      return;
    }
    $("upload-status").textContent = `study ${body.id.slice(0, 10)} queued`;
    openStudy(body.id);
  };
  request.onerror = () => { $("upload-status").textContent = "upload failed: no connection to the service"; };
  request.send(form);
}

async function openStudy(id) {
  state.study = id;
  state.result = null;
  state.masksUrl = null;
  showFlags([], null);
  showCategories(null);
  $("findings").querySelectorAll("tbody").forEach((b) => b.remove());
  $("report").textContent = "Waiting for the result...";
  $("report").classList.add("muted");
  await loadStudies();
  for (;;) {
    const job = await (await api(`/v1/studies/${id}?wait=${WAIT_S}`)).json();
    if (state.study !== id) return;
    if (job.status === "done") break;
    if (job.status === "failed") {
      showFlags(job.qc_flags, job.error);
      $("report").textContent = "No result.";
      await loadStudies();
      return;
    }
    $("upload-status").textContent = `study ${id.slice(0, 10)}: ${job.status}`;
  }
  const result = await (await api(`/v1/studies/${id}/result`)).json();
  state.result = result;
  $("upload-status").textContent = `study ${id.slice(0, 10)}: done in ${result.timings_s.total} s`;
  showFlags(result.qc_flags, null);
  showFindings(result.findings);
  showIdentity(result);
  $("report").textContent = result.report ?? "This model writes no report.";
  $("report").classList.toggle("muted", result.report == null);
  await showImage(id);
  await loadStudies();
  const found = showCategories(result.masks);
  if (found.length) {
    await showMask(found[0].name);
    return;
  }
  const first = result.findings.find((f) => f.positive) || result.findings[0];
  if (first) await showOverlay(first.task);
}

// The mask categories with at least one voxel, offered in the selector when there are several.
function showCategories(masks) {
  const found = masks ? masks.categories.filter((c) => c.voxels > 0) : [];
  const select = $("category");
  select.replaceChildren(...found.map((c) => {
    const option = text("option", `${c.name} (${c.voxels} voxels)`);
    option.value = c.name;
    return option;
  }));
  $("categories").hidden = found.length < 2;
  return found;
}

function showFlags(flags, error) {
  const items = (flags || []).map((f) => text("div", `QC: ${f.message}`, "flag"));
  if (error) items.unshift(text("div", `Failed: ${error}`, "flag error"));
  $("flags").replaceChildren(...items);
}

function showFindings(findings) {
  const table = $("findings");
  for (const group of ["conventional", "opportunistic", "other"]) {
    const rows = findings.filter((f) => f.group === group);
    if (!rows.length) continue;
    const body = document.createElement("tbody");
    const head = document.createElement("tr");
    head.className = "group";
    const th = text("th", group);
    th.colSpan = 4;
    head.append(th);
    body.append(head);
    for (const f of rows) {
      const tr = document.createElement("tr");
      tr.className = `finding${f.positive ? " positive" : ""}`;
      tr.dataset.task = f.task;
      tr.append(text("td", f.task), text("td", f.probability.toFixed(3), "num"),
        text("td", f.threshold.toFixed(3), "num"), text("td", f.positive ? "positive" : "negative", "call"));
      tr.addEventListener("click", () => showOverlay(f.task));
      body.append(tr);
    }
    table.append(body);
  }
}

function showIdentity(result) {
  const m = result.model;
  const entries = [["model", m.name], ["method", m.method], ["checkpoint", m.checkpoint_sha256.slice(0, 16)],
    ["backbone", m.backbone ? `${m.backbone.name} ${String(m.backbone.sha256 || "").slice(0, 12)}` : ""],
    ["input", `${result.input.kind}, ${result.input.shape.join(" x ")} at ${result.input.spacing_mm.join(" x ")} mm`],
    ["timings", Object.entries(result.timings_s).map(([k, v]) => `${k} ${v} s`).join(", ")]];
  $("identity").replaceChildren(...entries.flatMap(([k, v]) => [text("dt", k), text("dd", v)]));
}

async function showImage(id) {
  const url = await niftiUrl(`/v1/studies/${id}/image`);
  const [low, high] = WINDOWS.lung;
  await nv.loadVolumes([{ url, name: "ct.nii", colormap: "gray", cal_min: low, cal_max: high }]);
  nv.setSliceType(nv.sliceTypeMultiplanar);
  state.overlay = null;
  $("overlay-name").textContent = "none";
}

async function showOverlay(task) {
  if (!state.result) return;
  document.querySelectorAll("tr.finding").forEach((tr) => tr.classList.toggle("selected", tr.dataset.task === task));
  $("overlay-name").textContent = `${task} (computing)`;
  const url = await niftiUrl(`/v1/studies/${state.study}/saliency/${encodeURIComponent(task)}`);
  await replaceOverlay({ url, name: "saliency.nii.gz", colormap: "warm", cal_min: 0.2, cal_max: 1 });
  state.overlay = task;
  $("overlay-name").textContent = `${task} (Grad-CAM)`;
  document.body.dataset.overlay = task;
}

// A UniCT mask: one 4-D NIfTI, a frame per category; switching category only changes the frame.
async function showMask(category) {
  const masks = state.result && state.result.masks;
  if (!masks) return;
  const channel = masks.categories.find((c) => c.name === category).channel;
  document.querySelectorAll("tr.finding").forEach((tr) => tr.classList.remove("selected"));
  $("category").value = category;
  if (String(state.overlay).startsWith("mask:") && nv.volumes.length > 1) {
    nv.setFrame4D(nv.volumes[1].id, channel);
  } else {
    $("overlay-name").textContent = `${category} (loading)`;
    state.masksUrl = state.masksUrl || await niftiUrl(`/v1/studies/${state.study}/masks`);
    await replaceOverlay({ url: state.masksUrl, name: "masks.nii.gz", colormap: "red", cal_min: 0.5, cal_max: 1,
      frame4D: channel });
  }
  state.overlay = `mask:${category}`;
  $("overlay-name").textContent = `${category} (mask)`;
  document.body.dataset.overlay = state.overlay;
}

async function replaceOverlay(volume) {
  while (nv.volumes.length > 1) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
  await nv.addVolumeFromUrl({ ...volume, opacity: Number($("opacity").value) });
}

function setWindow(name) {
  if (!nv.volumes.length) return;
  [nv.volumes[0].cal_min, nv.volumes[0].cal_max] = WINDOWS[name];
  nv.updateGLVolume();
}

async function start() {
  await nv.attachToCanvas($("gl"));
  $("token").value = state.token;
  $("token").addEventListener("change", async (e) => {
    state.token = e.target.value;
    sessionStorage.setItem("hyperct-token", state.token);
    await refresh();
  });
  $("upload").onsubmit = upload;
  document.querySelectorAll("[data-window]").forEach((b) => { b.onclick = () => setWindow(b.dataset.window); });
  $("category").onchange = (e) => showMask(e.target.value);
  $("opacity").oninput = (e) => { if (nv.volumes.length > 1) nv.setOpacity(1, Number(e.target.value)); };
  await refresh();
}

async function refresh() {
  try {
    await loadModels();
    await loadStudies();
  } catch (err) {
    $("upload-status").textContent = err.message;
  }
}

start();
