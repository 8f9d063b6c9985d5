// rulelab playground: the page. Its state is a scenario (state.scenario, the dict a YAML file holds);
// every control edits that scenario and starts a fresh run on the server, whose frames arrive as
// server-sent events. No build step, no library: plain DOM and canvas.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
// Class colours of the regions (TensorFlow Playground's orange and blue), then more for more classes.
const CLASS_RGB = [[245, 147, 34], [8, 119, 189], [60, 170, 90], [150, 90, 180], [200, 60, 60], [120, 120, 120]];

const state = {
  catalog: null, view: "lab", scenario: null, run: null, info: null, source: null,
  curves: [], playing: false, clock: 0, restartTimer: null, generation: 0,
  hopfield: { width: 10, height: 10, patterns: [], selected: 0, drawing: null, cue: null, trace: null, step: 0,
              playing: false, result: null, scenario: null },
};
// What tests and benchmarks read: frames drawn, when the first one was drawn, the last frame's clock.
window.__pg = { frames: 0, firstFrame: null, clock: 0, runs: 0, hopfieldSteps: 0, errors: 0 };

// ------------------------------------------------------------------ helpers

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text }; }
  if (!response.ok) {
    const error = new Error((body && body.error) || response.statusText);
    error.problems = (body && body.problems) || [];
    throw error;
  }
  return body;
}

function showProblems(error) {
  const box = $("problems");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  window.__pg.errors += 1;
  const lines = (error.problems || []).map(([path, message]) => (path ? `${path}: ` : "") + message);
  box.textContent = lines.length ? lines.join("\n") : error.message;
  box.hidden = false;
}

function showNotes(notes) {
  const box = $("notes");
  box.hidden = !(notes && notes.length);
  box.textContent = (notes || []).join("; ");
}

const clone = (x) => JSON.parse(JSON.stringify(x));
const datasetOf = (s) => (typeof s.task.dataset === "string" ? { name: s.task.dataset } : s.task.dataset);
function b64bytes(text) {
  const raw = atob(text), out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function encodeState(payload) {
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeState(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(new TextDecoder().decode(b64bytes(b64)));
}

function saveUrl() {
  const payload = state.view === "lab" ? { view: "lab", scenario: state.scenario }
    : { view: "hopfield", scenario: hopfieldScenario(), width: state.hopfield.width };
  history.replaceState(null, "", "#" + encodeState(payload));
}

function download(name, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// ------------------------------------------------------------------ the lab view: controls from the scenario

function nFeatures(s) {
  const d = datasetOf(s);
  return d.features ? d.features.length : 2;
}

function setInputs(s) {
  // Every network (shared and per rule) takes as many inputs as there are features.
  const n = nFeatures(s);
  s.network.layers[0] = n;
  for (const rule of s.rules) if (rule.network && rule.network.layers) rule.network.layers[0] = n;
}

function renderControls() {
  const s = state.scenario, cat = state.catalog;
  const d = datasetOf(s);
  const info = cat.datasets.find((x) => x.name === d.name);
  $("dataset").value = d.name;
  const box = $("dataset-options");
  box.innerHTML = "";
  for (const field of info ? info.options : []) {
    if (["features", "train_percent"].includes(field.name)) continue;
    box.appendChild(fieldControl(field, d[field.name], (value) => { editDataset(field.name, value); }));
  }
  const playground = info && info.options.some((f) => f.name === "train_percent");
  const trainPercent = playground ? (d.train_percent ?? 50) : Math.round(100 * (1 - (s.task.test_fraction ?? 0)));
  $("train-percent").value = trainPercent;
  $("train-percent-out").textContent = trainPercent;
  const features = $("features");
  features.hidden = !playground;
  features.querySelectorAll("label").forEach((l) => l.remove());
  if (playground) {
    const chosen = d.features || ["x1", "x2"];
    for (const name of cat.features) {
      const label = document.createElement("label");
      const box2 = document.createElement("input");
      box2.type = "checkbox"; box2.checked = chosen.includes(name); box2.dataset.feature = name;
      box2.addEventListener("change", () => {
        const now = cat.features.filter((f) => features.querySelector(`[data-feature=${f}]`).checked);
        if (!now.length) { box2.checked = true; return; }
        editDataset("features", now);
      });
      label.append(box2, " " + name.replace("_squared", "²").replace("_times_", "·").replace("_", " "));
      features.appendChild(label);
    }
  }
  $("standardize").checked = !!s.task.standardize;
  $("hidden").value = s.network.layers.slice(1, -1).join(", ");
  $("activation").value = s.network.activation || "sigmoid";
  $("output-activation").value = s.network.output_activation || s.network.activation || "sigmoid";
  $("seed").value = s.seed ?? 0;
  $("batch-size").value = (s.train && s.train.batch_size) || 1;
  $("epochs").value = (s.train && s.train.epochs) || 100;
  renderRules();
}

function fieldControl(field, value, onChange) {
  const label = document.createElement("label");
  label.title = field.description || "";
  label.append(field.name.replace(/_/g, " "));
  let input;
  const current = value === undefined ? field.default : value;
  if (field.type === "choice") {
    input = document.createElement("select");
    for (const choice of field.choices) input.add(new Option(String(choice), String(choice)));
    input.value = String(current);
    input.addEventListener("change", () => onChange(field.choices.find((c) => String(c) === input.value)));
  } else if (field.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox"; input.checked = !!current;
    input.addEventListener("change", () => onChange(input.checked));
  } else if (field.type === "number" || field.type === "integer") {
    input = document.createElement("input");
    input.type = "number"; input.step = field.type === "integer" ? "1" : "any";
    if (current !== undefined && current !== null) input.value = current;
    input.addEventListener("change", () => {
      if (input.value === "") return;
      onChange(field.type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value));
    });
  } else {
    input = document.createElement("input");
    input.type = "text"; input.value = current === undefined || current === null ? "" : JSON.stringify(current);
    input.addEventListener("change", () => {
      try { onChange(input.value === "" ? null : JSON.parse(input.value)); } catch (e) { onChange(input.value); }
    });
  }
  input.dataset.field = field.name;
  label.appendChild(input);
  return label;
}

function ruleInfo(name) { return state.catalog.rules.find((r) => r.name === name); }

function renderRules() {
  const box = $("rules");
  box.innerHTML = "";
  state.scenario.rules.forEach((entry, i) => {
    const card = document.createElement("div");
    card.className = "rule-card";
    card.dataset.index = i;
    card.style.setProperty("--c", COLORS[i % COLORS.length]);
    const head = document.createElement("header");
    const title = document.createElement("b");
    title.textContent = entry.label || entry.rule || "stages";
    const remove = document.createElement("button");
    remove.textContent = "×"; remove.title = "remove this rule"; remove.className = "remove-rule";
    remove.addEventListener("click", () => { state.scenario.rules.splice(i, 1); changed(); });
    head.append(title, remove);
    card.appendChild(head);
    const stages = entry.stages || [entry];
    stages.forEach((stage, k) => {
      const rule = ruleInfo(stage.rule);
      if (entry.stages) {
        const name = document.createElement("div");
        name.className = "stage-name";
        name.textContent = `stage ${k + 1}: ${stage.rule}` + (stage.epochs ? ` (${stage.epochs} epochs)` : "");
        card.appendChild(name);
      }
      if (!rule) return;
      // The hyperparameters this entry sets and the usual ones first; every other under "more".
      const more = document.createElement("details");
      more.innerHTML = "<summary>more</summary>";
      for (const field of rule.hyperparameters) {
        const main = field.name in stage || ["lr", "population", "sigma", "optimizer"].includes(field.name);
        (main ? card : more).appendChild(fieldControl(field, stage[field.name], (value) => { stage[field.name] = value; changed(); }));
      }
      if (more.children.length > 1) card.appendChild(more);
    });
    if (entry.network) {
      const note = document.createElement("div");
      note.className = "stage-name";
      note.textContent = `own network: ${JSON.stringify(entry.network)}`;
      card.appendChild(note);
    }
    box.appendChild(card);
  });
  $("add-rule").disabled = state.scenario.rules.length >= state.catalog.limits.rules;
}

function editDataset(key, value) {
  const s = state.scenario;
  const d = clone(datasetOf(s));
  d[key] = value;
  s.task.dataset = d;
  changed();
}

function chooseDataset(name) {
  const s = state.scenario;
  const info = state.catalog.datasets.find((x) => x.name === name);
  const old = datasetOf(s);
  const d = { name };
  for (const field of info.options) if (field.name in old && field.name !== "n_samples") d[field.name] = old[field.name];
  if (!info.options.some((f) => f.name === "features")) delete d.features;
  s.task.dataset = d;
  s.task.kind = info.regression ? "regression" : "classification";
  if (info.options.some((f) => f.name === "train_percent")) {
    delete s.task.test_fraction;
    s.task.standardize = true;  // as the playground's sets are shown there
  } else if (["xor", "and", "or", "nand"].includes(name)) {
    delete s.task.test_fraction;
  } else if (s.task.test_fraction === undefined) {
    s.task.test_fraction = 0.25;
  }
  // Outputs that fit the task: a linear output for regression, a sigmoid for two classes.
  if (info.regression) s.network.output_activation = "linear";
  else if (s.network.output_activation === "linear") s.network.output_activation = "sigmoid";
  if (info.regression) s.rules = s.rules.filter((r) => !["perceptron"].includes(r.rule));
  for (const r of s.rules) if (r.network && info.regression && r.network.activation === "step") delete r.network;
  changed();
}

function addRule(name) {
  const preset = clone(state.catalog.presets[name] || { rule: name });
  if (preset.network && preset.network.layers) preset.network.layers = preset.network.layers.map((x) => x === "IN" ? 0 : x);
  const labels = state.scenario.rules.map((r) => r.label || r.rule);
  let label = preset.label || preset.rule;
  for (let k = 2; labels.includes(label); k++) label = `${preset.label || preset.rule}-${k}`;
  if (label !== (preset.label || preset.rule)) preset.label = label;
  state.scenario.rules.push(preset);
  changed();
}

function changed() {
  setInputs(state.scenario);
  renderControls();
  clearTimeout(state.restartTimer);
  state.restartTimer = setTimeout(() => startRun(state.scenario), 150);
}

function bindLabControls() {
  const cat = state.catalog;
  for (const d of cat.datasets) $("dataset").add(new Option(d.name.replace("playground_", "TF playground: "), d.name));
  for (const a of cat.activations) { $("activation").add(new Option(a, a)); $("output-activation").add(new Option(a, a)); }
  const addable = cat.rules.filter((r) => r.kind !== "associative").map((r) => r.name)
    .concat(Object.keys(cat.presets).filter((k) => k.includes("+")));
  for (const name of addable) $("add-rule-name").add(new Option(name, name));
  $("dataset").addEventListener("change", (e) => chooseDataset(e.target.value));
  $("train-percent").addEventListener("input", (e) => { $("train-percent-out").textContent = e.target.value; });
  $("train-percent").addEventListener("change", (e) => {
    const value = parseFloat(e.target.value);
    const d = datasetOf(state.scenario);
    const info = cat.datasets.find((x) => x.name === d.name);
    if (info.options.some((f) => f.name === "train_percent")) editDataset("train_percent", value);
    else { state.scenario.task.test_fraction = Math.round(100 - value) / 100; changed(); }
  });
  $("standardize").addEventListener("change", (e) => { state.scenario.task.standardize = e.target.checked; changed(); });
  $("hidden").addEventListener("change", (e) => {
    const sizes = e.target.value.split(/[ ,]+/).filter((x) => x).map((x) => parseInt(x, 10));
    if (sizes.some((x) => !(x >= 1))) { showProblems(new Error("hidden layers: whole numbers ≥ 1, e.g. 8, 8")); return; }
    const layers = state.scenario.network.layers;
    state.scenario.network.layers = [layers[0], ...sizes, layers[layers.length - 1]];
    changed();
  });
  $("activation").addEventListener("change", (e) => { state.scenario.network.activation = e.target.value; changed(); });
  $("output-activation").addEventListener("change", (e) => { state.scenario.network.output_activation = e.target.value; changed(); });
  $("seed").addEventListener("change", (e) => { state.scenario.seed = parseInt(e.target.value, 10) || 0; changed(); });
  $("batch-size").addEventListener("change", (e) => {
    state.scenario.train = { ...(state.scenario.train || {}), batch_size: parseInt(e.target.value, 10) || 1 }; changed();
  });
  $("epochs").addEventListener("change", (e) => {
    state.scenario.train = { ...(state.scenario.train || {}), epochs: parseInt(e.target.value, 10) || 1 }; changed();
  });
  $("add-rule").addEventListener("click", () => addRule($("add-rule-name").value));
  $("play").addEventListener("click", () => control(state.playing ? "pause" : "play"));
  $("step").addEventListener("click", () => control("step"));
  $("reset").addEventListener("click", () => control("reset"));
  $("speed").addEventListener("change", () => { if (state.playing) control("play"); });
}

// ------------------------------------------------------------------ the lab view: runs and frames

async function startRun(scenario) {
  const generation = ++state.generation;
  let body;
  try {
    body = await api("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify({ scenario }) });
  } catch (error) { showProblems(error); return; }
  if (generation !== state.generation) { api(`/api/runs/${body.id}`, { method: "DELETE" }).catch(() => {}); return; }
  showProblems(null);
  showNotes((body.info.notes || []).concat(state.openNotes || []));
  state.openNotes = null;  // said once, for the file just opened
  const wasPlaying = state.playing;
  stopRun();
  state.run = body.id;
  state.info = body.info;
  state.scenario = body.scenario;
  setInputs(state.scenario);
  window.__pg.runs += 1;
  state.curves = body.info.rules.map(() => ({ epoch: [], train_loss: [], test_loss: [], train_accuracy: [], test_accuracy: [] }));
  $("clock-end").textContent = body.info.epochs;
  buildPanels(body.info);
  renderControls();
  saveUrl();
  applyFrame(body.frame);
  const source = new EventSource(`/api/runs/${body.id}/events`);
  source.addEventListener("frame", (e) => applyFrame(JSON.parse(e.data)));
  source.addEventListener("reset", (e) => {
    state.curves = state.info.rules.map(() => ({ epoch: [], train_loss: [], test_loss: [], train_accuracy: [], test_accuracy: [] }));
    applyFrame(JSON.parse(e.data));
  });
  state.source = source;
  if (wasPlaying) control("play");
}

function stopRun() {
  if (state.source) state.source.close();
  if (state.run) api(`/api/runs/${state.run}`, { method: "DELETE" }).catch(() => {});
  state.source = null; state.run = null; state.playing = false;
  $("play").textContent = "Play";
}

async function control(action) {
  if (!state.run) return;
  const speed = Math.min(1000, Math.max(1, parseInt($("speed").value, 10) || 1));
  try {
    const body = await api(`/api/runs/${state.run}/control`, { method: "POST", headers: { "Content-Type": "application/json" },
                                                                 body: JSON.stringify({ action, speed }) });
    state.playing = body.playing;
    $("play").textContent = state.playing ? "Pause" : "Play";
    if (action === "play" || action === "step") {
      // A rule used for the first time on this machine is compiled once (seconds): say so if it shows.
      const frames = window.__pg.frames;
      setTimeout(() => {
        if (window.__pg.frames === frames && (state.playing || action === "step")) {
          showNotes(["waiting for the server: a rule used for the first time on this machine is compiled once (a few seconds)"]);
          const clear = setInterval(() => { if (window.__pg.frames !== frames) { showNotes([]); clearInterval(clear); } }, 200);
        }
      }, 1500);
    }
  } catch (error) { showProblems(error); }
}

function buildPanels(info) {
  const box = $("panels");
  box.innerHTML = "";
  info.rules.forEach((rule, i) => {
    const panel = document.createElement("div");
    panel.className = "panel";
    panel.dataset.index = i;
    panel.style.setProperty("--c", COLORS[i % COLORS.length]);
    panel.innerHTML = `<h3><span class="label"></span><span class="status"></span></h3>
      <canvas class="regions" width="240" height="240"></canvas><div class="stats"></div><div class="hidden-units"></div>`;
    panel.querySelector(".label").textContent = rule.label;
    panel.querySelector(".regions").title = `${rule.stages.join(" → ")}: layers ${rule.layers.join("-")}`;
    const units = panel.querySelector(".hidden-units");
    rule.hidden.forEach((h) => {
      const c = document.createElement("canvas");
      c.width = c.height = info.grid.hidden_size;
      c.title = `layer ${h.layer + 1}, unit ${h.unit + 1}`;
      units.appendChild(c);
    });
    box.appendChild(panel);
  });
}

function regionImage(rule, info) {
  // Regression and one output unit: a shade per point, on the side of 127.5 of its class (values);
  // several output units: the predicted class per point (classes).
  const n = info.grid.size;
  const image = new ImageData(n, n);
  const regression = info.kind === "regression";
  const bytes = b64bytes(rule.values || rule.classes);
  for (let p = 0; p < n * n; p++) {
    let rgb, strength;
    if (rule.values) {
      const v = bytes[p] / 255;
      rgb = bytes[p] >= 128 ? CLASS_RGB[1] : CLASS_RGB[0];
      strength = Math.min(1, Math.abs(v - 0.5) * 2);
      if (!regression) strength = 0.35 + 0.65 * strength;
    } else {
      rgb = CLASS_RGB[bytes[p] % CLASS_RGB.length]; strength = 0.8;
    }
    const a = 0.55 * strength;
    image.data[4 * p] = Math.round(255 * (1 - a) + rgb[0] * a);
    image.data[4 * p + 1] = Math.round(255 * (1 - a) + rgb[1] * a);
    image.data[4 * p + 2] = Math.round(255 * (1 - a) + rgb[2] * a);
    image.data[4 * p + 3] = 255;
  }
  return image;
}

const scratch = document.createElement("canvas");

function drawRegions(canvas, rule, info) {
  const n = info.grid.size;
  scratch.width = scratch.height = n;
  scratch.getContext("2d").putImageData(regionImage(rule, info), 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  const { low, high } = info.grid;
  const sx = canvas.width / (high[0] - low[0]), sy = canvas.height / (high[1] - low[1]);
  const regression = info.kind === "regression";
  const [vlo, vhi] = info.value_range;
  for (const [set, stroke] of [[info.train, "#fff"], [info.test, "#000"]]) {
    const pts = set.points, y = set.y;
    for (let i = 0; i < y.length; i++) {
      const px = (pts[2 * i] - low[0]) * sx, py = (high[1] - pts[2 * i + 1]) * sy;
      let rgb;
      if (regression) rgb = (y[i] - vlo) / (vhi - vlo) >= 0.5 ? CLASS_RGB[1] : CLASS_RGB[0];
      else rgb = CLASS_RGB[y[i] % CLASS_RGB.length];
      ctx.beginPath();
      ctx.arc(px, py, 3, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
      ctx.fill();
      ctx.lineWidth = 1; ctx.strokeStyle = stroke; ctx.stroke();
    }
  }
}

function drawHidden(canvas, unit) {
  const bytes = b64bytes(unit.values);
  const n = canvas.width;
  const image = new ImageData(n, n);
  for (let p = 0; p < n * n; p++) {
    const v = bytes[p] / 255, rgb = v >= 0.5 ? CLASS_RGB[1] : CLASS_RGB[0], a = Math.abs(v - 0.5) * 2;
    image.data[4 * p] = Math.round(255 * (1 - a) + rgb[0] * a);
    image.data[4 * p + 1] = Math.round(255 * (1 - a) + rgb[1] * a);
    image.data[4 * p + 2] = Math.round(255 * (1 - a) + rgb[2] * a);
    image.data[4 * p + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function applyFrame(frame) {
  const info = state.info;
  if (!info || frame.rules.length !== info.rules.length) return;
  frame.rules.forEach((rule, i) => {
    const curve = state.curves[i];
    const m = rule.metrics;
    for (let k = 0; k < m.epoch.length; k++) {
      curve.epoch.push(m.epoch[k]);
      for (const name of ["train_loss", "test_loss", "train_accuracy", "test_accuracy"]) curve[name].push(m[name] ? m[name][k] : null);
    }
    const panel = $("panels").children[i];
    drawRegions(panel.querySelector(".regions"), rule, info);
    panel.querySelectorAll(".hidden-units canvas").forEach((c, k) => { if (rule.hidden[k]) drawHidden(c, rule.hidden[k]); });
    const last = (name) => { const v = curve[name]; for (let k = v.length - 1; k >= 0; k--) if (v[k] !== null) return v[k]; return null; };
    const parts = [`epoch ${rule.epoch}`];
    for (const [name, short] of [["train_accuracy", "train acc"], ["test_accuracy", "test acc"], ["train_loss", "train loss"], ["test_loss", "test loss"]]) {
      const v = last(name);
      if (v !== null && (name.includes("accuracy") || info.kind === "regression" || parts.length < 3)) parts.push(`${short} ${v.toPrecision(3)}`);
    }
    panel.querySelector(".stats").textContent = parts.join(" · ");
    const status = panel.querySelector(".status");
    status.textContent = rule.status === "training" ? "" : rule.status.replace("_", " ");
    status.className = `status status-${rule.status}`;
    status.title = rule.message || "";
  });
  state.clock = frame.clock;
  $("clock").textContent = frame.clock;
  if (frame.finished && state.playing) { state.playing = false; $("play").textContent = "Play"; }
  scheduleCurves();
  window.__pg.frames += 1;
  window.__pg.clock = frame.clock;
  if (window.__pg.firstFrame === null) window.__pg.firstFrame = performance.now();
}

let curvesDrawn = 0, curvesPending = false;

function scheduleCurves() {
  // The curves at most 10 times a second: the regions are what must keep up with training.
  if (curvesPending) return;
  const wait = Math.max(0, curvesDrawn + 100 - performance.now());
  curvesPending = true;
  setTimeout(() => {
    curvesPending = false; curvesDrawn = performance.now();
    drawCurves($("loss-chart"), ["train_loss", "test_loss"]);
    drawCurves($("accuracy-chart"), ["train_accuracy", "test_accuracy"]);
  }, wait);
}

function drawCurves(canvas, names) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 44, bottom = 20, top = 8, right = 8;
  ctx.clearRect(0, 0, W, H);
  let xmax = 1, ymin = Infinity, ymax = -Infinity;
  for (const c of state.curves) {
    if (c.epoch.length) xmax = Math.max(xmax, c.epoch[c.epoch.length - 1]);
    for (const name of names) for (const v of c[name]) if (v !== null && isFinite(v)) { ymin = Math.min(ymin, v); ymax = Math.max(ymax, v); }
  }
  if (!isFinite(ymin)) { ymin = 0; ymax = 1; }
  if (names[0].includes("accuracy")) { ymin = Math.min(ymin, 0.5); ymax = 1; }
  if (ymax - ymin < 1e-9) { ymax += 0.5; ymin -= 0.5; }
  const X = (e) => left + (W - left - right) * e / xmax, Y = (v) => top + (H - top - bottom) * (1 - (v - ymin) / (ymax - ymin));
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.beginPath();
  ctx.moveTo(left, top); ctx.lineTo(left, H - bottom); ctx.lineTo(W - right, H - bottom); ctx.stroke();
  ctx.fillStyle = "#666"; ctx.font = "11px sans-serif";
  ctx.fillText(ymax.toPrecision(3), 2, top + 8); ctx.fillText(ymin.toPrecision(3), 2, H - bottom);
  ctx.fillText("0", left, H - 5); ctx.fillText(String(xmax), W - right - 30, H - 5);
  state.curves.forEach((c, i) => {
    names.forEach((name, k) => {
      const v = c[name];
      if (!v.some((x) => x !== null)) return;
      ctx.strokeStyle = COLORS[i % COLORS.length]; ctx.lineWidth = 1.5;
      ctx.setLineDash(k ? [4, 3] : []);
      ctx.beginPath();
      const stride = Math.max(1, Math.floor(v.length / 800));
      let started = false;
      for (let j = 0; j < v.length; j += stride) {
        if (v[j] === null || !isFinite(v[j])) continue;
        if (!started) { ctx.moveTo(X(c.epoch[j]), Y(v[j])); started = true; } else ctx.lineTo(X(c.epoch[j]), Y(v[j]));
      }
      const j = v.length - 1;
      if (started && v[j] !== null && isFinite(v[j])) ctx.lineTo(X(c.epoch[j]), Y(v[j]));
      ctx.stroke();
    });
  });
  ctx.setLineDash([]);
}

// ------------------------------------------------------------------ the Hopfield view

function hopfieldScenario() {
  const h = state.hopfield;
  const n = h.width * h.height;
  const cue = h.cue && h.cue.length === n ? h.cue : (h.patterns[h.selected] || new Array(n).fill(-1));
  return {
    name: "playground-hopfield", description: `Hopfield patterns drawn on a ${h.width}×${h.height} grid in rulelab playground`,
    seed: parseInt($("hf-seed").value, 10) || 0, repeats: 1,
    task: { kind: "association", dataset: { name: "table", inputs: h.patterns, labels: h.patterns.map((_, i) => i) },
            association: { cues: [cue], mode: $("hf-mode").value, max_sweeps: parseInt($("hf-sweeps").value, 10) || 20 } },
    network: { layers: [n, n], activation: "sign" },
    rules: [{ rule: $("hf-rule").value }],
  };
}

function loadHopfield(scenario, width) {
  const h = state.hopfield;
  const d = scenario.task.dataset;
  const patterns = d.inputs || [];
  const n = patterns.length ? patterns[0].length : (scenario.network.layers[0] || 100);
  const side = Math.round(Math.sqrt(n));
  h.width = width || (side * side === n ? side : n);
  h.height = n / h.width;
  h.patterns = clone(patterns);
  h.selected = 0;
  const a = scenario.task.association || {};
  h.cue = a.cues && a.cues.length ? clone(a.cues[0]) : null;
  h.drawing = h.patterns[0] ? clone(h.patterns[0]) : new Array(n).fill(-1);
  h.trace = null; h.result = null;
  $("hf-width").value = h.width; $("hf-height").value = h.height;
  $("hf-seed").value = scenario.seed || 0;
  $("hf-mode").value = a.mode || "async";
  $("hf-sweeps").value = a.max_sweeps || 20;
  $("hf-rule").value = scenario.rules[0].rule;
  renderHopfield();
}

function drawBits(canvas, bits, width, height, mark) {
  const ctx = canvas.getContext("2d");
  const cw = canvas.width / width, ch = canvas.height / height;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < width * height; i++) {
    const x = (i % width) * cw, y = Math.floor(i / width) * ch;
    ctx.fillStyle = bits && bits[i] > 0 ? "#1d3557" : "#f1f1f1";
    ctx.fillRect(x + 0.5, y + 0.5, cw - 1, ch - 1);
    if (mark === i) { ctx.strokeStyle = "#e63946"; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y + 1, cw - 2, ch - 2); }
  }
}

function renderHopfield() {
  const h = state.hopfield;
  drawBits($("hf-draw"), h.drawing, h.width, h.height);
  const box = $("hf-patterns");
  box.innerHTML = "";
  h.patterns.forEach((p, i) => {
    const fig = document.createElement("figure");
    fig.className = i === h.selected ? "selected" : "";
    const c = document.createElement("canvas");
    c.width = h.width * 4; c.height = h.height * 4;
    drawBits(c, p, h.width, h.height);
    const del = document.createElement("button");
    del.textContent = "×"; del.title = "forget this pattern";
    del.addEventListener("click", (e) => { e.stopPropagation(); h.patterns.splice(i, 1); h.selected = 0; h.trace = null; renderHopfield(); saveUrl(); });
    fig.addEventListener("click", () => { h.selected = i; h.drawing = clone(p); renderHopfield(); });
    fig.append(c, del);
    box.appendChild(fig);
  });
  drawHopfieldState();
}

function traceState() {
  // The state after `step` steps of the recall (async: unit visits; sync: sweeps), and the unit last visited.
  const h = state.hopfield, t = h.trace;
  if (!t) return { bits: h.cue, mark: -1, energies: [] };
  if (t.mode === "sync") {
    const k = Math.min(h.step, t.steps.states.length - 1);
    return { bits: t.steps.states[k], mark: -1, energies: t.steps.energies.slice(0, k + 1) };
  }
  const bits = t.cue.slice();
  const k = Math.min(h.step, t.steps.units.length);
  for (let j = 0; j < k; j++) bits[t.steps.units[j]] = t.steps.values[j];
  return { bits, mark: k ? t.steps.units[k - 1] : -1, energies: [t.start_energy].concat(t.steps.energies.slice(0, k)) };
}

function drawHopfieldState() {
  const h = state.hopfield;
  const { bits, mark, energies } = traceState();
  drawBits($("hf-state"), bits, h.width, h.height, mark);
  const canvas = $("hf-energy"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const t = h.trace;
  if (!t) return;
  const all = t.mode === "sync" ? t.steps.energies : [t.start_energy].concat(t.steps.energies);
  const lo = Math.min(...all), hi = Math.max(...all) + 1e-9, left = 44, bottom = 18;
  const X = (i) => left + (canvas.width - left - 8) * i / Math.max(1, all.length - 1);
  const Y = (e) => 8 + (canvas.height - 8 - bottom) * (1 - (e - lo) / (hi - lo));
  ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(left, 8); ctx.lineTo(left, canvas.height - bottom); ctx.lineTo(canvas.width - 8, canvas.height - bottom); ctx.stroke();
  ctx.fillStyle = "#666"; ctx.font = "11px sans-serif";
  ctx.fillText(hi.toPrecision(4), 2, 16); ctx.fillText(lo.toPrecision(4), 2, canvas.height - bottom);
  ctx.fillText(t.mode === "sync" ? "sweeps" : "unit updates", left + 4, canvas.height - 4);
  ctx.strokeStyle = "#e63946"; ctx.lineWidth = 2; ctx.beginPath();
  energies.forEach((e, i) => { if (i === 0) ctx.moveTo(X(i), Y(e)); else ctx.lineTo(X(i), Y(e)); });
  ctx.stroke();
  const done = h.step >= (t.mode === "sync" ? t.steps.states.length - 1 : t.steps.units.length);
  const e = energies.length ? energies[energies.length - 1] : t.start_energy;
  $("hf-result").textContent = done
    ? `${t.outcome.replace("_", " ")} after ${t.sweeps} sweep${t.sweeps === 1 ? "" : "s"}${t.converged ? " (a fixed point)" : ""}: overlap with pattern ${t.target + 1} = ${t.overlap.toFixed(2)}, E = ${t.final_energy.toPrecision(5)}`
    : `recalling… E = ${e.toPrecision(5)}`;
  $("hf-result").dataset.outcome = done ? t.outcome : "";
}

function paint(canvas, bitsOf, event) {
  const h = state.hopfield;
  const r = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - r.left) / r.width * h.width), y = Math.floor((event.clientY - r.top) / r.height * h.height);
  if (x < 0 || y < 0 || x >= h.width || y >= h.height) return;
  const bits = bitsOf(), i = y * h.width + x;
  if (h.paintValue === null) h.paintValue = bits[i] > 0 ? -1 : 1;
  bits[i] = h.paintValue;
}

function bindHopfieldControls() {
  const h = state.hopfield;
  for (const name of state.catalog.hopfield.rules) $("hf-rule").add(new Option(name, name));
  h.paintValue = null;
  const drawOn = (canvas, bitsOf, after) => {
    canvas.addEventListener("mousedown", (e) => { h.paintValue = null; paint(canvas, bitsOf, e); after(); canvas.dataset.down = "1"; });
    canvas.addEventListener("mousemove", (e) => { if (canvas.dataset.down) { paint(canvas, bitsOf, e); after(); } });
    window.addEventListener("mouseup", () => { delete canvas.dataset.down; });
  };
  drawOn($("hf-draw"), () => h.drawing, () => drawBits($("hf-draw"), h.drawing, h.width, h.height));
  drawOn($("hf-state"), () => { if (h.trace) { h.cue = traceState().bits; h.trace = null; } if (!h.cue) h.cue = h.drawing.slice(); return h.cue; },
         () => { drawHopfieldState(); saveUrl(); });
  $("hf-add").addEventListener("click", () => {
    if (h.patterns.length >= 40) return;
    h.patterns.push(h.drawing.slice()); h.selected = h.patterns.length - 1; h.trace = null; renderHopfield(); saveUrl();
  });
  $("hf-clear").addEventListener("click", () => { h.drawing = new Array(h.width * h.height).fill(-1); renderHopfield(); });
  const resize = () => {
    const w = parseInt($("hf-width").value, 10), hh = parseInt($("hf-height").value, 10);
    if (!(w >= 2 && hh >= 2 && w * hh <= state.catalog.hopfield.max_units)) return;
    h.width = w; h.height = hh; h.patterns = []; h.cue = null; h.trace = null; h.drawing = new Array(w * hh).fill(-1);
    renderHopfield(); saveUrl();
  };
  $("hf-width").addEventListener("change", resize);
  $("hf-height").addEventListener("change", resize);
  $("hf-noise").addEventListener("input", (e) => { $("hf-noise-out").textContent = e.target.value; });
  $("hf-noise-out").textContent = $("hf-noise").value;
  $("hf-corrupt").addEventListener("click", () => {
    const p = h.patterns[h.selected];
    if (!p) return;
    const n = p.length, flips = Math.round(n * parseInt($("hf-noise").value, 10) / 100);
    const order = [...Array(n).keys()];
    for (let k = n - 1; k > 0; k--) { const j = Math.floor(Math.random() * (k + 1)); [order[k], order[j]] = [order[j], order[k]]; }
    h.cue = p.slice();
    for (const i of order.slice(0, flips)) h.cue[i] = -h.cue[i];
    h.trace = null; drawHopfieldState(); saveUrl();
  });
  $("hf-recall").addEventListener("click", recallHopfield);
  $("hf-step").addEventListener("click", () => { h.playing = false; advanceHopfield(1); });
  $("hf-play").addEventListener("click", () => {
    if (!h.trace) { recallHopfield().then(() => { h.playing = true; animateHopfield(); }); return; }
    h.playing = !h.playing; if (h.playing) animateHopfield();
  });
  for (const id of ["hf-rule", "hf-mode", "hf-seed", "hf-sweeps"]) $(id).addEventListener("change", () => { h.trace = null; saveUrl(); });
}

async function recallHopfield() {
  const h = state.hopfield;
  if (!h.patterns.length) { showProblems(new Error("store at least one pattern first")); return; }
  if (!h.cue) h.cue = h.patterns[h.selected].slice();
  try {
    const body = await api("/api/hopfield", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify({ scenario: hopfieldScenario() }) });
    showProblems(null);
    h.trace = body; h.step = 0; h.result = body;
    saveUrl();
    drawHopfieldState();
  } catch (error) { showProblems(error); }
}

function advanceHopfield(k) {
  const h = state.hopfield;
  if (!h.trace) return false;
  const end = h.trace.mode === "sync" ? h.trace.steps.states.length - 1 : h.trace.steps.units.length;
  h.step = Math.min(end, h.step + k);
  window.__pg.hopfieldSteps = h.step;
  drawHopfieldState();
  return h.step < end;
}

function animateHopfield() {
  const h = state.hopfield;
  if (!h.playing) return;
  const k = h.trace && h.trace.mode === "sync" ? 1 : Math.max(1, parseInt($("hf-speed").value, 10) || 1);
  if (advanceHopfield(k)) setTimeout(() => requestAnimationFrame(animateHopfield), h.trace.mode === "sync" ? 400 : 16);
  else h.playing = false;
}

// ------------------------------------------------------------------ views, files, start

function showView(view) {
  if (view === "hopfield" && state.playing) control("pause");  // a hidden view does not train on
  state.view = view;
  $("view-lab").hidden = view !== "lab";
  $("view-hopfield").hidden = view !== "hopfield";
  $("tab-lab").classList.toggle("active", view === "lab");
  $("tab-hopfield").classList.toggle("active", view === "hopfield");
  if (view === "hopfield" && !state.hopfield.drawing) {
    const hf = state.catalog.hopfield;
    loadHopfield({ seed: 0, task: { dataset: { inputs: hf.patterns }, association: {} }, network: { layers: [hf.width * hf.height] },
                   rules: [{ rule: hf.rules[0] }] }, hf.width);
  }
  if (view === "lab" && !state.run && state.scenario) startRun(state.scenario);
  if (view === "lab" && state.scenario || view === "hopfield") saveUrl();
}

async function openText(text) {
  try {
    const body = await api("/api/open", { method: "POST", headers: { "Content-Type": "application/yaml" }, body: text });
    showProblems(null);
    showNotes(body.notes);
    if (body.view === "hopfield") { stopRun(); showView("hopfield"); loadHopfield(body.scenario); saveUrl(); }
    else { state.openNotes = body.notes; showView("lab"); state.scenario = body.scenario; setInputs(state.scenario); renderControls(); startRun(state.scenario); }
  } catch (error) { showProblems(error); }
}

async function exportYaml() {
  try {
    if (state.view === "lab") {
      if (!state.run) return;
      const response = await fetch(`/api/runs/${state.run}/export`);
      const text = await response.text();
      if (!response.ok) throw new Error(text);
      download("playground.yaml", text);
      window.__pg.exported = text;
    } else {
      if (!state.hopfield.trace) await recallHopfield();
      if (!state.hopfield.trace) return;
      download("playground-hopfield.yaml", state.hopfield.trace.yaml);
      window.__pg.exported = state.hopfield.trace.yaml;
    }
  } catch (error) { showProblems(error); }
}

async function main() {
  try { state.catalog = await api("/api/catalog"); } catch (error) { showProblems(error); return; }
  bindLabControls();
  bindHopfieldControls();
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("open-yaml").addEventListener("change", async (e) => { const f = e.target.files[0]; if (f) openText(await f.text()); e.target.value = ""; });
  $("export-yaml").addEventListener("click", exportYaml);
  $("copy-link").addEventListener("click", () => { saveUrl(); navigator.clipboard && navigator.clipboard.writeText(location.href).catch(() => {}); });
  window.addEventListener("beforeunload", () => stopRun());
  window.__pg.ready = true;
  let start = state.catalog.initial || { view: "lab", scenario: state.catalog.default };
  if (location.hash.length > 1) {
    try { start = decodeState(location.hash.slice(1)); } catch (e) { showProblems(new Error("the address does not hold a playground state; opened the default")); }
  }
  if (start.view === "hopfield") {
    state.scenario = clone(state.catalog.default);
    showView("hopfield");
    loadHopfield(start.scenario, start.width);
    if (start.scenario.task.association && start.scenario.task.association.cues) recallHopfield();
  } else {
    state.scenario = clone(start.scenario);
    setInputs(state.scenario);
    renderControls();
    startRun(state.scenario);
  }
}

main();
