"""The review page: one HTML file, one stylesheet, one script, no build step. Every text that comes
from the benchmark or a model is put on the page with `textContent` (never as HTML), and the
server's Content-Security-Policy allows no inline script, so a question holding `<script>` is
shown, never run."""

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="llamav-token" content="{token}">
<title>llamav author: review</title>
<link rel="stylesheet" href="app.css?token={token}">
<link rel="icon" href="favicon.ico?token={token}">
</head>
<body>
<header>
  <strong>llamav author</strong>
  <span id="reviewer"></span>
  <div id="progress" title="reviewed / all"><div id="progress-bar"></div></div>
  <span id="progress-text"></span>
  <label>show <select id="filter">
    <option value="all">all</option>
    <option value="unreviewed">unreviewed</option>
    <option value="flagged">flagged</option>
    <option value="accepted">accepted</option>
    <option value="rejected">rejected</option>
  </select></label>
  <label>category <select id="filter-category"><option value="">any</option></select></label>
  <span id="agreement"></span>
  <span id="status" role="status"></span>
</header>
<main>
  <nav><ol id="list"></ol></nav>
  <section id="sample" hidden>
    <div id="figure">
      <div class="zoom"><button id="zoom-out" title="zoom out (-)">-</button><button id="zoom-in" title="zoom in (+)">+</button>
      <button id="zoom-fit" title="fit (0)">fit</button></div>
      <div id="image-box"><img id="image" alt="the sample's image"></div>
    </div>
    <div id="text">
      <h2 id="sample-id"></h2>
      <p id="question"></p>
      <ol id="options" type="A"></ol>
      <p>Reference answer: <strong id="answer"></strong></p>
      <p id="check"></p>
      <h3>Steps</h3>
      <ol id="steps"></ol>
      <p id="changes"></p>
      <div class="add"><textarea id="new-step" rows="2" placeholder="a new step (n)"></textarea><button id="add-step">add step</button></div>
      <p><label>Category <select id="category"></select></label> <span id="category-reason"></span></p>
      <p><label>Comment<br><textarea id="comment" rows="2" cols="60"></textarea></label></p>
      <p class="decide"><button id="accept">accept (a)</button> <button id="reject">reject (r)</button>
        <button id="reopen">reopen (o)</button> <span id="decision"></span></p>
      <p class="keys">j/k next/previous sample · a accept · r reject · o reopen · up/down pick a step · e edit it ·
        shift+up/down move it · x delete it · n new step · 1-9 category · c comment · +/-/0 zoom · f next filter</p>
    </div>
  </section>
</main>
<script src="app.js?token={token}"></script>
</body>
</html>
"""

CSS = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; background: #f3f3f3; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
#progress { width: 160px; height: 10px; background: #ddd; border-radius: 5px; overflow: hidden; }
#progress-bar { height: 100%; width: 0; background: #3a7; }
main { display: flex; height: calc(100vh - 3.2em); }
nav { width: 16em; overflow-y: auto; border-right: 1px solid #ccc; font-size: 13px; }
nav ol { list-style: none; margin: 0; padding: 0; }
nav li { padding: .2em .5em; cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
nav li.current { background: #dde8ff; }
nav li.accept::before { content: "\\2713 "; color: #383; }
nav li.reject::before { content: "\\2717 "; color: #b33; }
nav li.flagged { font-style: italic; }
#sample { display: flex; flex: 1; overflow: auto; gap: 1em; padding: 1em; }
#figure { flex: 1; min-width: 20em; }
#image-box { overflow: auto; max-height: 80vh; border: 1px solid #ccc; }
#image { width: 100%; image-rendering: auto; }
#text { flex: 1; min-width: 24em; }
#question, .step-text { white-space: pre-wrap; }
#check.flagged { color: #a40; font-weight: bold; }
#steps li { margin: .2em 0; padding: .2em; border-radius: 3px; }
#steps li.selected { background: #fff3c4; }
#steps button { font-size: 11px; margin-left: .3em; }
#steps textarea, .add textarea { width: 90%; }
.keys, #changes { color: #777; font-size: 12px; }
#decision.accept { color: #383; } #decision.reject { color: #b33; }
"""

JS = r"""
"use strict";
const TOKEN = document.querySelector('meta[name="llamav-token"]').content;
const state = { samples: [], categories: [], current: null, detail: null, selected: -1, zoom: 1 };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = { headers: { "X-Llamav-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function say(text) { $("status").textContent = text; }

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function visible() {
  const filter = $("filter").value, category = $("filter-category").value;
  return state.samples.filter((s) =>
    (filter === "all" || (filter === "unreviewed" && s.decision === "open") || (filter === "flagged" && s.flagged) ||
     (filter === "accepted" && s.decision === "accept") || (filter === "rejected" && s.decision === "reject")) &&
    (!category || s.category === category));
}

function renderList() {
  const list = $("list");
  list.replaceChildren();
  for (const s of visible()) {
    const li = el("li", s.id + "  " + s.question, [s.decision, s.flagged ? "flagged" : "", s.id === state.current ? "current" : ""].join(" "));
    li.dataset.id = s.id;
    li.addEventListener("click", () => openSample(s.id));
    list.append(li);
  }
  const done = state.samples.filter((s) => s.decision !== "open").length;
  $("progress-bar").style.width = (state.samples.length ? 100 * done / state.samples.length : 0) + "%";
  $("progress-text").textContent = done + " / " + state.samples.length + " reviewed";
}

function summaryOf(detail) {
  return { id: detail.id, question: detail.question.slice(0, 80), flagged: detail.flagged, decision: detail.decision, category: detail.category };
}

function show(detail) {
  state.detail = detail;
  const i = state.samples.findIndex((s) => s.id === detail.id);
  if (i >= 0) state.samples[i] = summaryOf(detail);
  $("sample").hidden = false;
  $("sample-id").textContent = detail.id;
  $("question").textContent = detail.question;
  $("options").replaceChildren(...(detail.options || []).map((o) => el("li", o)));
  $("answer").textContent = detail.final_answer;
  $("check").textContent = detail.check ? (detail.flagged ? "flagged: " : "checked: ") + detail.check : "no draft yet";
  $("check").className = detail.flagged ? "flagged" : "";
  const steps = $("steps");
  steps.replaceChildren();
  detail.steps.forEach((text, index) => {
    const li = el("li");
    li.dataset.index = index;
    if (index === state.selected) li.classList.add("selected");
    li.append(el("span", text, "step-text"));
    for (const [name, label, action] of [["edit", "edit", () => editStep(index)], ["up", "\u2191", () => move(index, index - 1)],
                                           ["down", "\u2193", () => move(index, index + 1)], ["delete", "delete", () => removeStep(index)]]) {
      const button = el("button", label, name);
      button.addEventListener("click", (event) => { event.stopPropagation(); action(); });
      li.append(button);
    }
    li.addEventListener("click", () => { state.selected = index; show(state.detail); });
    steps.append(li);
  });
  $("changes").textContent = detail.changes.length ? "your changes: " + detail.changes.join(", ") : "";
  const select = $("category");
  select.replaceChildren(...state.categories.map((c) => { const o = el("option", c); o.value = c; return o; }));
  if (!state.categories.includes(detail.category)) { const o = el("option", detail.category); o.value = detail.category; select.prepend(o); }
  select.value = detail.category;
  $("category-reason").textContent = detail.category_reason ? "proposed " + detail.proposed_category + ": " + detail.category_reason : "";
  if (document.activeElement !== $("comment")) $("comment").value = detail.comment;
  $("decision").textContent = detail.decision === "open" ? "not reviewed" : detail.decision + "ed";
  $("decision").className = detail.decision;
  renderList();
}

async function openSample(id) {
  state.current = id;
  state.selected = -1;
  const detail = await api("api/sample?id=" + encodeURIComponent(id));
  if (id !== state.current) return;  // another sample was opened meanwhile
  $("image").src = "api/image?id=" + encodeURIComponent(id) + "&token=" + encodeURIComponent(TOKEN);
  show(detail);
}

async function edit(action, payload) {
  try {
    const detail = await api("api/edit", Object.assign({ id: state.current, action: action }, payload));
    if (detail.id === state.current) show(detail);
    else { const i = state.samples.findIndex((s) => s.id === detail.id); state.samples[i] = summaryOf(detail); renderList(); }
    say("saved");
    if (action === "decision") refreshAgreement();
  } catch (error) { say("not saved: " + error.message); }
}

function editStep(index) {
  const li = $("steps").children[index];
  const box = el("textarea", undefined, "step-editor");
  box.value = state.detail.steps[index];
  box.rows = 3;
  li.replaceChildren(box);
  box.focus();
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); edit("steps", { op: "edit", index: index, text: box.value }); }
    if (event.key === "Escape") show(state.detail);
  });
}

function move(index, to) {
  if (to < 0 || to >= state.detail.steps.length) return;
  state.selected = to;
  edit("steps", { op: "move", index: index, to: to });
}

function removeStep(index) { state.selected = -1; edit("steps", { op: "delete", index: index }); }

function addStep() {
  const text = $("new-step").value;
  if (!text.trim()) return;
  $("new-step").value = "";
  edit("steps", { op: "add", text: text });
}

function step(by) {
  const list = visible();
  const i = list.findIndex((s) => s.id === state.current);
  const next = list[Math.min(Math.max(i + by, 0), list.length - 1)];
  if (next) openSample(next.id);
}

function zoom(factor) {
  state.zoom = factor === 0 ? 1 : Math.min(8, Math.max(0.25, state.zoom * factor));
  $("image").style.width = (100 * state.zoom) + "%";
}

async function refreshAgreement() {
  const pairs = await api("api/agreement");
  $("agreement").textContent = pairs.map((p) => p.reviewers.join(" & ") + ": kappa " +
    (p.decision_kappa === null ? "-" : p.decision_kappa.toFixed(2)) + " (decisions), " +
    (p.category_kappa === null ? "-" : p.category_kappa.toFixed(2)) + " (categories) on " + p.samples).join("; ");
}

document.addEventListener("keydown", (event) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) || !state.detail) return;
  const n = state.detail.steps.length, key = event.key;
  if (key === "j") step(1);
  else if (key === "k") step(-1);
  else if (key === "a") edit("decision", { decision: "accept" });
  else if (key === "r") edit("decision", { decision: "reject" });
  else if (key === "o") edit("decision", { decision: "open" });
  else if (key === "ArrowDown" && event.shiftKey && state.selected >= 0) move(state.selected, state.selected + 1);
  else if (key === "ArrowUp" && event.shiftKey && state.selected >= 0) move(state.selected, state.selected - 1);
  else if (key === "ArrowDown") { state.selected = Math.min(state.selected + 1, n - 1); show(state.detail); }
  else if (key === "ArrowUp") { state.selected = Math.max(state.selected - 1, 0); show(state.detail); }
  else if (key === "e" && state.selected >= 0) editStep(state.selected);
  else if (key === "x" && state.selected >= 0) removeStep(state.selected);
  else if (key === "n") $("new-step").focus();
  else if (key === "c") $("comment").focus();
  else if (key === "+" || key === "=") zoom(1.25);
  else if (key === "-") zoom(0.8);
  else if (key === "0") zoom(0);
  else if (key === "f") { const f = $("filter"); f.selectedIndex = (f.selectedIndex + 1) % f.options.length; renderList(); }
  else if (/^[1-9]$/.test(key) && state.categories[Number(key) - 1]) edit("category", { category: state.categories[Number(key) - 1] });
  else return;
  event.preventDefault();
});

$("accept").addEventListener("click", () => edit("decision", { decision: "accept" }));
$("reject").addEventListener("click", () => edit("decision", { decision: "reject" }));
$("reopen").addEventListener("click", () => edit("decision", { decision: "open" }));
$("add-step").addEventListener("click", addStep);
$("new-step").addEventListener("keydown", (event) => { if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); addStep(); } });
$("category").addEventListener("change", () => edit("category", { category: $("category").value }));
$("comment").addEventListener("change", () => edit("comment", { comment: $("comment").value }));
$("filter").addEventListener("change", renderList);
$("filter-category").addEventListener("change", renderList);
$("zoom-in").addEventListener("click", () => zoom(1.25));
$("zoom-out").addEventListener("click", () => zoom(0.8));
$("zoom-fit").addEventListener("click", () => zoom(0));
$("image").addEventListener("click", () => zoom(state.zoom === 1 ? 2 : 0));

(async () => {
  const data = await api("api/samples");
  state.samples = data.samples;
  state.categories = data.categories;
  $("reviewer").textContent = "reviewer: " + data.reviewer;
  for (const c of data.categories) { const o = el("option", c); o.value = c; $("filter-category").append(o); }
  renderList();
  refreshAgreement();
  if (state.samples.length) openSample(state.samples[0].id);
  document.body.dataset.ready = "1";
})();
"""
