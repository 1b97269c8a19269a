// lcad viewer: a ranked catalogue, one object's bands with the model's reconstruction,
// residuals, point scores and flagged intervals, its place in latent space, its neighbours,
// and labels that re-rank. Everything comes from the service's /v1 API (no other network).
"use strict";

const state = { key: localStorage.getItem("lcad-api-key") || "", rows: [], current: null,
                catalogue: false };
window.lcadViewer = state; // for people (and tests) who want the data behind the plots

const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b"];

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 || response.status === 403) {
    $("key-form").hidden = false;
    throw new Error(response.status === 401 ? "this service needs an API key"
                                             : "the API key was not accepted");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error((body.error && body.error.message) || response.statusText);
    err.code = body.error && body.error.code;
    err.status = response.status;
    throw err;
  }
  return body;
}

const fmt = (v, digits = 3) => (v === null || v === undefined ? "-" : Number(v).toPrecision(digits));
// p-values below what a double holds print as a bound, not as 0
const fmtP = (p) => (p === null || p === undefined ? "-" : p === 0 ? "<1e-300" : fmt(p, 2));

// ----- catalogue list
async function loadCatalogue() {
  const params = new URLSearchParams({ limit: "500" });
  if ($("filter-anomalous").checked) params.set("anomalous", "true");
  if ($("filter-min-score").value !== "") params.set("min_score", $("filter-min-score").value);
  if ($("filter-q").value) params.set("q", $("filter-q").value);
  let body;
  try {
    body = await api(`/v1/catalogue?${params}`);
  } catch (err) {
    if (err.code === "no_catalogue") {
      $("catalogue-note").textContent = "No catalogue is served: start with `lcad serve --catalogue DATA` to rank a file's objects here. You can still score your own curve below.";
      state.catalogue = false;
      return;
    }
    if (err.code === "catalogue_loading") {
      $("catalogue-note").textContent = "Scoring the catalogue...";
      setTimeout(loadCatalogue, 2000);
      return;
    }
    throw err;
  }
  state.catalogue = true;
  state.rows = body.objects;
  $("catalogue-source").textContent = body.source || "";
  $("catalogue-note").textContent = `${body.n_matching} of ${body.n_objects} objects` +
    (body.n_labels ? `, ranked with ${body.n_labels} label(s)` : "");
  const tbody = $("objects").querySelector("tbody");
  tbody.replaceChildren(...body.objects.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.objectId = r.object_id;
    if (r.is_anomalous) tr.classList.add("flagged");
    if (state.current && state.current.object_id === r.object_id) tr.classList.add("current");
    for (const [cls, text] of [["rank", r.rank], ["oid", r.object_id], ["score", fmt(r.score)],
                               ["p", fmtP(r.p_value)], ["label", r.label || ""]]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => openObject(r.object_id));
    return tr;
  }));
  if (!state.current && body.objects.length) await openObject(body.objects[0].object_id);
}

async function openObject(objectId) {
  status(`loading ${objectId}`);
  const detail = await api(`/v1/catalogue/${encodeURIComponent(objectId)}?k=5`);
  show(detail, true);
  document.querySelectorAll("#objects tbody tr").forEach((tr) =>
    tr.classList.toggle("current", tr.dataset.objectId === objectId));
  status("");
}

// ----- one object
function show(detail, inCatalogue) {
  state.current = detail;
  $("object-title").textContent = detail.object_id;
  $("object-summary").textContent =
    `score ${fmt(detail.score)}, p-value ${fmtP(detail.p_value)}, ` +
    `${detail.is_anomalous ? "flagged" : "not flagged"}, ${detail.intervals.length} interval(s)` +
    (detail.warnings.length ? ` - ${detail.warnings.join("; ")}` : "");
  $("labelling").hidden = !inCatalogue;
  $("windows-panel").hidden = !inCatalogue;
  $("similar-windows").replaceChildren();
  $("label-state").textContent = detail.label ? `labelled: ${detail.label}` : "";
  plotCurve(detail);
  plotScores(detail);
  plotMap(detail);
  listNeighbours(detail);
}

// a curve given in magnitudes is shown in magnitudes (on a reversed axis: brighter is up)
function byBand(detail) {
  const p = detail.points;
  const m = detail.magnitudes;
  const bands = [...new Set(p.band)];
  return bands.map((b) => {
    const idx = p.band.map((x, i) => (x === b ? i : -1)).filter((i) => i >= 0);
    const pick = (a) => (a ? idx.map((i) => a[i]) : null);
    return { band: b, time: pick(p.time), score: pick(p.score),
             flux: pick(m ? m.mag : p.flux), err: pick(m ? m.mag_err : p.flux_err),
             recon: pick(m ? m.reconstruction : p.reconstruction),
             resid: pick(m ? m.residual : p.residual) };
  });
}

function intervalShapes(detail, yref) {
  return detail.intervals.map((iv) => ({
    type: "rect", xref: "x", yref, x0: iv.start, x1: iv.end, y0: 0, y1: 1,
    fillcolor: "rgba(214,39,40,0.15)", line: { width: 0 }, layer: "below",
    name: `interval p=${fmtP(iv.p_value)}` }));
}

function intervalNotes(detail) {
  return detail.intervals.map((iv) => ({
    x: iv.peak_time, y: 1, xref: "x", yref: "paper", yanchor: "bottom", showarrow: false,
    text: `p=${fmtP(iv.p_value)}`, font: { size: 10, color: "#b00" } }));
}

function plotCurve(detail) {
  const traces = [];
  const mags = Boolean(detail.magnitudes);
  const what = mags ? "mag" : "flux";
  // many points: WebGL traces (SVG slows down past ~10,000 markers)
  const type = detail.points.time.length > 10000 ? "scattergl" : "scatter";
  byBand(detail).forEach((b, k) => {
    const colour = COLOURS[k % COLOURS.length];
    traces.push({ name: `${b.band} ${what}`, x: b.time, y: b.flux, mode: "markers", type,
                  marker: { size: 4, color: colour }, meta: { band: b.band, kind: "flux" },
                  error_y: b.err ? { type: "data", array: b.err, visible: true, thickness: 0.6,
                                     width: 0, color: colour } : undefined });
    traces.push({ name: `${b.band} reconstruction`, x: b.time, y: b.recon, mode: "lines",
                  type, line: { color: "#333", width: 1 },
                  meta: { band: b.band, kind: "reconstruction" } });
    traces.push({ name: `${b.band} residual`, x: b.time, y: b.resid, mode: "markers",
                  type, yaxis: "y2", marker: { size: 3, color: colour },
                  meta: { band: b.band, kind: "residual" } });
  });
  Plotly.react("curve-plot", traces, {
    margin: { t: 20, r: 10, b: 40, l: 50 }, showlegend: true, legend: { orientation: "h" },
    xaxis: { title: { text: "time" } },
    yaxis: { title: { text: mags ? "magnitude" : "flux" }, domain: [0.35, 1],
             autorange: mags ? "reversed" : true },
    yaxis2: { title: { text: "residual" }, domain: [0, 0.28], autorange: mags ? "reversed" : true },
    shapes: intervalShapes(detail, "paper"), annotations: intervalNotes(detail),
  }, { responsive: true, displaylogo: false });
  const div = $("curve-plot");
  div.removeAllListeners && div.removeAllListeners("plotly_click");
  div.on("plotly_click", (ev) => {
    if (!ev.points.length || $("windows-panel").hidden) return;
    $("window-time").value = ev.points[0].x;
    guard(similarWindows)();
  });
}

// where else a stretch like the one around a time occurs (windowed models)
async function similarWindows() {
  const id = state.current.object_id;
  const t = $("window-time").value;
  if (t === "") throw new Error("pick a time: click the light curve or type one");
  const body = await api(`/v1/catalogue/${encodeURIComponent(id)}/similar-windows?` +
                         new URLSearchParams({ time: t, k: "5" }));
  state.windows = body;
  $("similar-windows").replaceChildren(...body.neighbours.map((n) => {
    const li = document.createElement("li");
    li.dataset.objectId = n.object_id;
    li.dataset.start = n.window_start;
    li.textContent = `${n.object_id} ${fmt(n.window_start, 5)}-${fmt(n.window_end, 5)} ` +
      `(distance ${fmt(n.distance, 2)})`;
    li.addEventListener("click", () => openObject(n.object_id));
    return li;
  }));
}

function plotScores(detail) {
  const type = detail.points.time.length > 10000 ? "scattergl" : "scatter";
  const traces = byBand(detail).map((b, k) => ({
    name: `${b.band} point score`, x: b.time, y: b.score, mode: "markers", type,
    marker: { size: 3, color: COLOURS[k % COLOURS.length] }, meta: { band: b.band, kind: "score" } }));
  const t = detail.points.time.filter((v) => v !== null);
  const shapes = intervalShapes(detail, "paper");
  if (detail.threshold !== null && t.length) {
    shapes.push({ type: "line", xref: "x", yref: "y", x0: Math.min(...t), x1: Math.max(...t),
                  y0: detail.threshold, y1: detail.threshold, name: "threshold",
                  line: { color: "#b00", dash: "dash", width: 1 } });
  }
  Plotly.react("score-plot", traces, {
    margin: { t: 10, r: 10, b: 30, l: 50 }, showlegend: false, shapes,
    yaxis: { title: { text: "point score" } } }, { responsive: true, displaylogo: false });
}

function plotMap(detail) {
  if (!state.catalogue || !state.rows.length) {
    Plotly.purge("map-plot");
    return;
  }
  const rows = state.rows.filter((r) => r.x !== null);
  const traces = [{
    name: "catalogue", x: rows.map((r) => r.x), y: rows.map((r) => r.y),
    text: rows.map((r) => r.object_id), customdata: rows.map((r) => r.object_id),
    mode: "markers", type: "scatter", hovertemplate: "%{text}<extra></extra>",
    marker: { size: 6, color: rows.map((r) => (r.score > 0 ? Math.log10(r.score) : null)),
              colorscale: "Viridis", showscale: true,
              colorbar: { title: { text: "log10 score" } } } }];
  if (detail.position && detail.position.x !== null) {
    traces.push({ name: "this curve", x: [detail.position.x], y: [detail.position.y],
                  mode: "markers", type: "scatter",
                  marker: { size: 16, symbol: "star", color: "#d62728",
                            line: { width: 1, color: "#000" } } });
  }
  Plotly.react("map-plot", traces, {
    margin: { t: 10, r: 10, b: 30, l: 40 }, showlegend: false,
    xaxis: { title: { text: "latent PC 1" } }, yaxis: { title: { text: "latent PC 2" } } },
    { responsive: true, displaylogo: false });
  const div = $("map-plot");
  div.removeAllListeners && div.removeAllListeners("plotly_click");
  div.on("plotly_click", (ev) => {
    const id = ev.points[0] && ev.points[0].customdata;
    if (id) openObject(id);
  });
}

function listNeighbours(detail) {
  $("neighbours").replaceChildren(...detail.neighbours.map((n) => {
    const li = document.createElement("li");
    li.dataset.objectId = n.object_id;
    li.textContent = `${n.object_id} (distance ${fmt(n.distance, 2)}, score ${fmt(n.score)})` +
      (n.label ? ` [${n.label}]` : "");
    li.addEventListener("click", () => openObject(n.object_id));
    return li;
  }));
}

// ----- labels
async function label(value) {
  const id = state.current.object_id;
  const row = await api("/v1/labels", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ object_id: id, label: value }) });
  $("label-state").textContent = `labelled: ${row.label} (now rank ${row.rank})`;
  state.current.label = row.label;
  await loadCatalogue();
}

// ----- your own curve
async function scoreBody(body, contentType) {
  status("scoring...");
  // the point score asked for (GET /v1/model's look_for: the model's own first)
  const look = $("look-for").value;
  const query = look && look !== state.ownLook ? `&look_for=${encodeURIComponent(look)}` : "";
  const answer = await api(`/v1/view?k=5${query}`, { method: "POST", body,
                                                     headers: { "Content-Type": contentType } });
  if (!answer.results.length) throw new Error("nothing to show");
  show(answer.results[0], false);
  document.querySelectorAll("#objects tbody tr").forEach((tr) => tr.classList.remove("current"));
  status(answer.results.length > 1 ? `showing the first of ${answer.results.length} curves` : "");
}

function guard(fn) {
  return (...args) => fn(...args).catch((err) => status(err.message, true));
}

async function start() {
  const info = await api("/v1/model");
  $("model").textContent = `${info.name || "model"} ${info.version ? `v${info.version}` : ""}` +
    ` - ${info.representation}`;
  const looks = info.look_for || [];
  state.ownLook = looks[0];
  $("look-for").replaceChildren(...looks.map((look, i) => {
    const option = document.createElement("option");
    option.value = look;
    option.textContent = i === 0 ? `${look} (as trained)` : look;
    return option;
  }));
  $("look-for-choice").hidden = looks.length < 2;  // a choice only where there is one
  await loadCatalogue();
}

$("key-form").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  state.key = $("key").value;
  localStorage.setItem("lcad-api-key", state.key);
  $("key-form").hidden = true;
  status("");
  await start();
}));
for (const id of ["filter-anomalous", "filter-min-score", "filter-q"]) {
  $(id).addEventListener("change", guard(loadCatalogue));
}
$("windows-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guard(similarWindows)();
});
$("label-anomaly").addEventListener("click", guard(() => label("anomaly")));
$("label-normal").addEventListener("click", guard(() => label("normal")));
$("upload").addEventListener("change", guard(async () => {
  const file = $("upload").files[0];
  if (!file) return;
  const text = await file.text();
  const json = file.name.endsWith(".json") || text.trimStart().startsWith("{");
  await scoreBody(text, json ? "application/json" : "text/csv");
}));
$("score-pasted").addEventListener("click", guard(async () => {
  const text = $("paste").value.trim();
  await scoreBody(text, text.startsWith("{") ? "application/json" : "text/csv");
}));
guard(start)();
