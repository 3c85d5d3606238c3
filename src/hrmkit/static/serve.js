// hrm serve: fetches /api/info, posts puzzles to /api/solve and plays the segments back.
// Plain DOM code with no library, so the page needs nothing from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let result = null;
let timer = null;

function setSteps(value) {
  const n = Math.max(1, Math.min(info ? info.max_steps : 64, Number(value) || 1));
  $("steps").value = n;
  $("steps-slider").value = n;
  $("steps-shown").textContent = n;
}

async function loadInfo() {
  const response = await fetch("/api/info");
  info = await response.json();
  $("model").textContent = `${info.model} · ${info.task} ${info.grid_shape.join("x")} · halts when ${info.halt_rule} (trained with up to ${info.halt_max_steps} segments)`;
  for (const id of ["steps", "steps-slider"]) $(id).max = info.max_steps;
  setSteps(info.halt_max_steps);
  $("steps-hint").textContent = `Training ran at most ${info.halt_max_steps}; you may ask for up to ${info.max_steps}.`;
  $("blank-hint").textContent = info.task === "maze" ? "# wall, space open, S start, G goal" : ". for a blank";
  const select = $("examples");
  info.examples.forEach((example, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = example.name;
    select.appendChild(option);
  });
  if (info.examples.length) {
    select.value = "0";
    $("puzzle").value = info.examples[0].text;
  }
  document.body.dataset.ready = "true";
}

function cellClass(ch, given, written, changed) {
  if (changed) return "changed";
  if (ch === "#") return "wall";
  if (written) return "written";
  return given ? "given" : "";
}

function drawGrid(table, cells, puzzle, changed) {
  const [h, w] = result.grid_shape;
  table.replaceChildren();
  table.classList.toggle("small", w > 16);
  const changedSet = new Set(changed || []);
  for (let r = 0; r < h; r++) {
    const row = table.insertRow();
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      const ch = cells[i];
      const td = row.insertCell();
      td.textContent = ch === "#" || ch === "." ? "" : ch;
      td.dataset.cell = ch;
      const given = ch === puzzle[i] && ch !== "." && ch !== " ";
      td.className = cellClass(ch, given, ch !== puzzle[i], changedSet.has(i));
    }
  }
}

function showSegment(k) {
  const seg = result.segments[k - 1];
  $("segment").value = k;
  $("segment-title").textContent = `segment ${k} of ${result.segments.length}`;
  drawGrid($("grid"), seg.cells, result.puzzle, seg.changed);
  const q = `q_halt ${seg.q_halt >= 0 ? "+" : ""}${seg.q_halt.toFixed(2)}` +
    (seg.q_continue === null ? "" : `, q_continue ${seg.q_continue >= 0 ? "+" : ""}${seg.q_continue.toFixed(2)}`);
  $("seginfo").textContent = `segment ${k}: ${seg.changed.length} cells changed · P(halt) ${seg.p_halt.toFixed(2)} (${q}) · ` +
    (seg.halts ? `halt rule fires (${result.halt_rule})` : "the model would go on");
  const verdict = $("verdict");
  verdict.textContent = seg.valid === null ? "no rule check for this task" : seg.valid ? "answer valid by the rules ✓" : "answer not valid ✗";
  verdict.className = seg.valid ? "valid" : seg.valid === false ? "invalid" : "";
  document.querySelectorAll("#halt-chart .bar").forEach((bar, i) => bar.classList.toggle("current", i === k - 1));
}

function drawChart() {
  const chart = $("halt-chart");
  chart.replaceChildren();
  result.segments.forEach((seg, i) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (seg.halts ? " halts" : "");
    bar.style.height = `${Math.max(1, seg.p_halt * 100)}%`;
    bar.title = `segment ${i + 1}: P(halt) ${seg.p_halt.toFixed(2)}`;
    bar.addEventListener("click", () => { stop(); showSegment(i + 1); });
    chart.appendChild(bar);
  });
}

function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  $("play").textContent = "▶ Play";
}

function play() {
  if (timer !== null) return stop();
  let k = 1;
  showSegment(k);
  $("play").textContent = "❚❚ Pause";
  timer = setInterval(() => {
    k += 1;
    if (k > result.segments.length) return stop();
    showSegment(k);
  }, 700);
}

async function solvePuzzle() {
  stop();
  $("error").textContent = "";
  $("status").textContent = "thinking…";
  $("solve").disabled = true;
  document.body.dataset.state = "busy";
  try {
    const response = await fetch("/api/solve", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ puzzle: $("puzzle").value, steps: Number($("steps").value) }),
    });
    const body = await response.json();
    if (!response.ok) {
      $("error").textContent = body.error || `HTTP ${response.status}`;
      $("status").textContent = "";
      document.body.dataset.state = "error";
      return;
    }
    result = body;
    $("output").hidden = false;
    $("segment").max = result.segments.length;
    drawGrid($("puzzle-grid"), result.puzzle, result.puzzle, []);
    drawChart();
    showSegment(result.segments.length);
    $("decision").textContent = result.decision.charAt(0).toUpperCase() + result.decision.slice(1) + ".";
    $("status").textContent = `${result.segments.length} segments in ${result.seconds.toFixed(2)} s`;
    document.body.dataset.state = "solved";
  } catch (e) {
    $("error").textContent = `the server did not answer (${e})`;
    document.body.dataset.state = "error";
  } finally {
    $("solve").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("examples").addEventListener("change", (e) => {
    const i = e.target.value;
    if (i !== "") $("puzzle").value = info.examples[Number(i)].text;
  });
  $("puzzle").addEventListener("input", () => { $("examples").value = ""; });
  $("steps").addEventListener("input", (e) => setSteps(e.target.value));
  $("steps-slider").addEventListener("input", (e) => setSteps(e.target.value));
  $("segment").addEventListener("input", (e) => { stop(); showSegment(Number(e.target.value)); });
  $("play").addEventListener("click", play);
  $("solve").addEventListener("click", solvePuzzle);
  loadInfo().catch((e) => { $("error").textContent = `could not load the model's info (${e})`; });
});
