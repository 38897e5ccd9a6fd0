/**
 * `GET /`: a one-page demo. Upload or drop an image, set a latency budget and a method; it shows
 * the top-5, the operating point chosen, the timings and the explain picture.
 * @module
 */
import { Hono } from "hono";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgemerge</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  #drop { border: 2px dashed #999; border-radius: 8px; padding: 1.5rem; text-align: center; }
  #drop.over { background: #eef5ff; border-color: #36c; }
  .controls { display: flex; gap: 1.5rem; align-items: center; margin: 1rem 0; flex-wrap: wrap; }
  table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
  #explain { max-width: 100%; image-rendering: pixelated; margin-top: 1rem; }
  #error { color: #b00; }
  code { font-size: 13px; }
</style>
</head>
<body>
<h1>edgemerge</h1>
<p>Image classification inside a latency budget, by training-free token merging. <span id="backend"></span></p>
<div id="drop">Drop a JPEG or PNG here, or <input id="file" type="file" accept="image/jpeg,image/png"></div>
<div class="controls">
  <label>Budget <input id="budget" type="range" min="0" max="300" step="5" value="0">
    <output id="budget-value">none</output></label>
  <label>Model <select id="model"></select></label>
  <label>Method <select id="method"><option value="">any (budget decides)</option></select></label>
  <button id="again" disabled>Run again</button>
</div>
<p id="error" role="alert"></p>
<div id="result" hidden>
  <h2>Top-5</h2>
  <table id="top5"><thead><tr><th>class</th><th>score</th></tr></thead><tbody></tbody></table>
  <h2>Operating point</h2>
  <p id="point"></p>
  <p>Schedule run (tokens merged per block; <mark>marked</mark>: changed in flight): <code id="schedule"></code><br>
     Schedule planned when a worker took it: <code id="planned"></code> <span id="replans"></span><br>
     Tokens entering each block: <code id="tokens"></code></p>
  <h2>Timings</h2>
  <p id="timings"></p>
  <h2>Merge groups after blocks 3, 6, 9 and the last</h2>
  <img id="explain" alt="merge groups">
</div>
<script type="module">
const $ = (id) => document.getElementById(id);
let image;
const budget = () => Number($("budget").value);
$("budget").oninput = () => $("budget-value").textContent = budget() ? budget() + " ms" : "none";
const models = (await (await fetch("/v1/models")).json()).models;
for (const m of models) $("model").append(new Option(m.name, m.name));
function pickModel() {
  const m = models.find((x) => x.name === $("model").value);
  $("backend").textContent = "Model " + m.name + " on " + m.backend + ".";
  $("method").length = 1;
  for (const name of new Set(m.operating_points.points.map((p) => p.method))) {
    $("method").append(new Option(name, name));
  }
}
pickModel();
$("model").onchange = () => { pickModel(); run(); };
async function run() {
  if (!image) return;
  $("error").textContent = "";
  const q = new URLSearchParams({ top_k: "5", model: $("model").value });
  if (budget()) q.set("budget_ms", String(budget()));
  if ($("method").value) q.set("method", $("method").value);
  const res = await fetch("/v1/classify?" + q, { method: "POST", body: image, headers: { "content-type": image.type } });
  const body = await res.json();
  if (!res.ok) { $("error").textContent = body.error.code + ": " + body.error.message; return; }
  const rows = body.top_k.map((p) => "<tr><td></td><td>" + (100 * p.score).toFixed(1) + " %</td></tr>");
  $("top5").tBodies[0].innerHTML = rows.join("");
  body.top_k.forEach((p, i) => $("top5").tBodies[0].rows[i].cells[0].textContent = p.label);
  const op = body.operating_point;
  $("point").textContent = op.method + (op.schedule_kind ? " (" + op.schedule_kind + " ramp)" : "") + " at " + op.resolution + " px, " + op.gmacs.toFixed(3) + " GMACs (" + (100 * op.reduction).toFixed(1) +
    " % fewer)" + (op.expected_top1 ? ", expected top-1 " + (100 * op.expected_top1).toFixed(1) + " %" : "");
  $("schedule").innerHTML = op.schedule.map((r, l) => r === op.planned_schedule[l] ? String(r) : "<mark>" + r + "</mark>").join(" ");
  $("planned").textContent = op.planned_schedule.join(" ");
  $("replans").textContent = op.replans ? "(" + op.replans + " re-plan" + (op.replans > 1 ? "s" : "") + " in flight)" : "(run as planned)";
  $("tokens").textContent = op.tokens.join(" ");
  const t = body.timings;
  const segments = t.segments.length > 1 ? " [segments: " + t.segments.map((s) => "blocks " + s.blocks[0] + "-" + (s.blocks[1] - 1) + " " + s.ms + " ms").join(", ") + "]" : "";
  $("timings").textContent = "read " + t.read_ms + " ms, queue " + t.queue_ms + " ms, decode " + t.decode_ms + " ms, inference " + t.infer_ms +
    " ms" + segments + ", total " + t.total_ms + " ms" + (t.predicted_ms !== null ? " (predicted from the worker taking it: " + t.predicted_ms + " ms; actual after queueing: " + (t.total_ms - t.queue_ms - t.read_ms).toFixed(1) + " ms)" : "") +
    (body.budget_ms !== null ? "; budget " + body.budget_ms + " ms " + (body.budget_met ? "met" : "missed") : "");
  $("result").hidden = false;
  // The picture of the point that ran: its method and schedule as run (unmerged: no groups).
  const q2 = new URLSearchParams({ model: $("model").value, method: op.method === "none" ? "tome" : op.method, schedule: op.schedule.join(","), resolution: String(op.resolution) });
  if (op.theta !== undefined) q2.set("theta", String(op.theta));
  const ex = await fetch("/v1/explain?" + q2, { method: "POST", body: image, headers: { "content-type": image.type } });
  if (ex.ok) $("explain").src = URL.createObjectURL(await ex.blob());
  else $("error").textContent = "explain: " + (await ex.json()).error.message;
}
function take(file) { image = file; $("again").disabled = false; run(); }
$("file").onchange = () => $("file").files[0] && take($("file").files[0]);
$("again").onclick = run;
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); e.dataTransfer.files[0] && take(e.dataTransfer.files[0]); };
</script>
</body>
</html>
`;

/** The demo page route. */
export function demoRoutes(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.html(PAGE));
  return app;
}
