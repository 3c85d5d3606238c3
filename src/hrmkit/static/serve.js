// hrm serve: fetches /api/info, posts puzzles to /api/solve and plays the segments back.
// Plain DOM code with no library, so the page needs nothing from outside this server. What the page shows for a task
// (its input hint, its controls) comes from /api/info: the page never branches on the task's name.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let result = null;
let timer = null;
let variants = null; // the task's "variants" control, when /api/info lists one

function setSteps(value) {
  const n = Math.max(1, Math.min(info ? info.max_segments : 64, Number(value) || 1));
  $("steps").value = n;
  $("steps-slider").value = n;
  $("steps-shown").textContent = n;
}

async function loadInfo() {
  const response = await fetch("/api/info");
  info = await response.json();
  $("model").textContent = `${info.model} · ${info.task} ${info.grid_shape.join("x")} · halts when ${info.halt_rule} (trained with up to ${info.halt_max_steps} segments)`;
  for (const id of ["steps", "steps-slider"]) $(id).max = info.max_segments;
  setSteps(info.halt_max_steps);
  $("steps-hint").textContent = `Training ran at most ${info.halt_max_steps}; you may ask for up to ${info.max_segments}.`;
  $("blank-hint").textContent = info.input_hint;
  info.controls.forEach(showControl);
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

function showControl(control) {
  if (control.kind === "task-file") {
    $("upload").accept = control.accept;
    $("task-file").hidden = false;
  } else if (control.kind === "variants") {
    variants = control;
    $("variants").max = control.maximum;
    $("variants").value = control.default;
    $("variants-control").hidden = false;
  }
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
    const request = { puzzle: $("puzzle").value, segments: Number($("steps").value) };
    if (info.whole_task) request.index = null; // every test input of the task
    if (variants !== null) request.variants = Number($("variants").value);
    const response = await fetch("/api/solve", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await response.json();
    if (!response.ok) {
      $("error").textContent = body.error || `HTTP ${response.status}`;
      $("status").textContent = "";
      document.body.dataset.state = "error";
      return;
    }
    if (info.whole_task) {
      showArc(body);
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


// ---- ARC: a whole task (demonstrations, test inputs), answers voted over the task's trained variants

let arc = null;

function arcGrid(grid) {
  if (!grid || !grid.length) {
    const span = document.createElement("span");
    span.className = "empty-grid";
    span.textContent = grid ? "(empty)" : "(unknown)";
    return span;
  }
  const table = document.createElement("table");
  table.className = "arc" + (grid.length > 15 || grid[0].length > 15 ? " big" : "");
  for (const cells of grid) {
    const row = table.insertRow();
    for (const v of cells) {
      const td = row.insertCell();
      td.className = `c${v}`;
      td.dataset.cell = String(v);
    }
  }
  return table;
}

function figure(caption, grid, cls) {
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.className = "caption" + (cls ? ` ${cls}` : "");
  cap.textContent = caption;
  fig.append(cap, arcGrid(grid));
  return fig;
}

function verdict(answer) {
  return answer.right === null ? "" : answer.right ? ": right" : ": wrong";
}

function answerFigure(title, answer, total) {
  const cls = answer.right === null ? "" : answer.right ? "right" : "wrong";
  return figure(`${title}: ${answer.votes} of ${total} votes, P(halt) ${answer.p_halt.toFixed(2)}${verdict(answer)}`, answer.grid, cls);
}

function showArcSegment(k) {
  $("arc-segment").value = k;
  $("arc-segment-shown").textContent = `segment ${k} of ${arc.segments}`;
  arc.tests.forEach((test, i) => {
    const seg = test.segments[k - 1];
    const box = document.querySelector(`#arc-test-${i} .segment-grids`);
    const figs = [figure(`segment ${k}: original variant, P(halt) ${seg.p_halt.toFixed(2)}`, seg.prediction)];
    if (seg.answers.length) figs.push(answerFigure(`segment ${k}: most votes`, seg.answers[0], arc.variants.length));
    box.replaceChildren(...figs);
  });
}

function stopArc() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  $("arc-play").textContent = "▶ Play";
}

function playArc() {
  if (timer !== null) return stopArc();
  let k = 1;
  showArcSegment(k);
  $("arc-play").textContent = "❚❚ Pause";
  timer = setInterval(() => {
    k += 1;
    if (k > arc.segments) return stopArc();
    showArcSegment(k);
  }, 700);
}

function showArc(body) {
  arc = body;
  $("output").hidden = true;
  $("arc-output").hidden = false;
  const notes = body.notes.map((n) => { const p = document.createElement("p"); p.className = "note"; p.textContent = n; return p; });
  const head = document.createElement("p");
  head.textContent = body.known
    ? `Task ${body.matched}: held out in the model's dataset (protocol ${body.protocol}); votes over ${body.variants.length} of its ${body.variants_available} trained variants, ${body.segments} segments each.`
    : `Task ${body.task_id}: not a task of the model's dataset.`;
  $("arc-notes").replaceChildren(head, ...notes);
  $("arc-demos").replaceChildren(...body.demonstrations.map((d, i) => {
    const pair = document.createElement("div");
    pair.className = "pair";
    pair.append(figure(`demo ${i + 1} input`, d.input), figure("output", d.output));
    return pair;
  }));
  $("arc-tests").replaceChildren(...body.tests.map((t, i) => {
    const box = document.createElement("div");
    box.className = "test";
    box.id = `arc-test-${i}`;
    const grids = document.createElement("div");
    grids.className = "grids";
    const segment = document.createElement("div");
    segment.className = "grids segment-grids";
    const finals = t.answers.map((a, j) => answerFigure(`attempt ${j + 1}`, a, body.variants.length));
    if (!t.answers.length) finals.push(figure("no answer: every prediction was empty", []));
    grids.append(figure(`test input ${t.index}`, t.input), segment, ...finals,
      figure(t.expected ? "expected" : "expected: unknown", t.expected));
    box.append(grids);
    return box;
  }));
  $("arc-segment").max = body.segments;
  showArcSegment(body.segments);
  $("status").textContent = `${body.tests.length} test input(s), ${body.segments} segments, in ${body.seconds.toFixed(2)} s`;
  document.body.dataset.state = "solved";
}

function loadFile(e) {
  const file = e.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { $("puzzle").value = String(reader.result); $("examples").value = ""; };
  reader.readAsText(file);
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
  $("upload").addEventListener("change", loadFile);
  $("arc-segment").addEventListener("input", (e) => { stopArc(); showArcSegment(Number(e.target.value)); });
  $("arc-play").addEventListener("click", playArc);
  loadInfo().catch((e) => { $("error").textContent = `could not load the model's info (${e})`; });
});
