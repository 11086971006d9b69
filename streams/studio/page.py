"""The studio's single page: plain HTML, CSS and a little JavaScript, no build step.

Every value from a template or a persona reaches the page through `textContent` or an
iframe's `srcdoc` (sandboxed, no scripts), never as markup of the page itself.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>heard studio</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #f4f4f6; }
  body { margin: 0; }
  header.bar { position: sticky; top: 0; z-index: 2; background: #fff; padding: .6rem 1rem;
               border-bottom: 1px solid #ddd; display: flex; gap: 1rem; align-items: center;
               flex-wrap: wrap; }
  header.bar h1 { font-size: 1.1rem; margin: 0 1rem 0 0; }
  #status { font-size: .85rem; color: #555; }
  #problem { background: #fde8e8; color: #8a1111; padding: .6rem 1rem; display: none; }
  main { padding: 1rem; }
  h2.kind { font-size: 1rem; margin: 1.4rem 0 .5rem; }
  .row { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: .8rem; }
  .cell { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: .7rem;
          display: flex; flex-direction: column; gap: .45rem; min-width: 0; }
  .cell.updated { animation: flash 1.2s ease-out; }
  @keyframes flash { from { box-shadow: 0 0 0 3px #f5c542; } to { box-shadow: none; } }
  .cell h3 { font-size: .9rem; margin: 0; }
  .meta { font-size: .75rem; color: #666; }
  .subject { font-weight: 600; font-size: .9rem; }
  iframe.html { width: 100%; height: var(--email-height, 260px); border: 1px solid #e3e3e3;
                border-radius: 4px; background: #fff; resize: vertical; }
  body.phone-width iframe.html { width: 375px; max-width: 100%; }
  .files { font-family: ui-monospace, monospace; font-size: .7rem; color: #555; word-break: break-all; }
  pre.text { white-space: pre-wrap; font-size: .78rem; background: #fafafa; margin: 0;
             padding: .5rem; border-radius: 4px; max-height: 220px; overflow: auto; }
  .phone { background: #e9e9ee; border-radius: 12px; padding: .6rem; }
  .bubble { background: #34c759; color: #fff; border-radius: 16px 16px 4px 16px;
            padding: .5rem .7rem; font-size: .85rem; white-space: pre-wrap; }
  .bubble mark { background: #ffd60a; color: #000; border-radius: 2px; }
  .sms-meta { font-size: .75rem; color: #444; margin-top: .3rem; }
  .sms-meta.over { color: #b00020; font-weight: 600; }
  ul.findings { margin: 0; padding-left: 1.1rem; font-size: .78rem; }
  ul.findings li.error { color: #b00020; }
  ul.findings li.warning { color: #8a5a00; }
  .problems { background: #fde8e8; color: #8a1111; border-radius: 4px; padding: .5rem;
              font-size: .8rem; white-space: pre-wrap; }
  .actions { display: flex; gap: .5rem; align-items: center; font-size: .8rem; }
  .hidden { display: none !important; }
  #report { margin: 1rem; background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: .7rem; }
  #report pre { margin: 0; white-space: pre-wrap; font-size: .8rem; }
  #report[data-state="refused"] { border-color: #b00020; }
</style>
</head>
<body>
<header class="bar">
  <h1>heard studio</h1>
  <label>Kind <select id="kind"><option value="">all</option></select></label>
  <label>Language <select id="locale"><option value="">all</option></select></label>
  <label>Persona <select id="persona"><option value="">all</option></select></label>
  <label><input type="checkbox" id="problems-only"> only messages with problems</label>
  <label>Email view <select id="email-height">
    <option value="260px">short</option><option value="640px">tall</option>
    <option value="1400px">full length</option></select></label>
  <label><input type="checkbox" id="phone-width"> phone width (375 px)</label>
  <button type="button" id="whatif"
    title="the draft against the published version, over the last 7 days' messages">What if…</button>
  <button type="button" id="publish"
    title="lint the draft and, with no error, publish it for every worker">Publish</button>
  <span id="status">loading…</span>
</header>
<div id="problem" role="alert"></div>
<section id="report" class="hidden" aria-live="polite"><pre></pre></section>
<main id="grid" aria-live="polite"></main>
<script>
"use strict";
const grid = document.getElementById("grid");
const statusLine = document.getElementById("status");
const problemBox = document.getElementById("problem");
const filters = ["kind", "locale", "persona"].map(id => document.getElementById(id));
const problemsOnly = document.getElementById("problems-only");
const emailHeight = document.getElementById("email-height");
const phoneWidth = document.getElementById("phone-width");

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function cellNode(cell) {
  // A problem: the message does not render, or lint has something to say about it.
  const node = el("section", {"class": "cell", "id": "cell-" + cell.id, "data-kind": cell.kind,
                              "data-locale": cell.locale, "data-persona": cell.persona,
                              "data-problems": String(cell.problems.length + cell.findings.length)});
  node.append(el("h3", {}, cell.persona + " · " + cell.locale));
  if (cell.wording) node.append(el("div", {"class": "meta wording"}, cell.wording));
  const written = cell.written_in && cell.written_in !== cell.locale
    ? " · written in " + cell.written_in + " (no " + cell.locale + " templates)" : "";
  node.append(el("div", {"class": "meta"},
                 (cell.team ? "for the team, by email" : "prefers " + cell.channel) + written));
  node.append(el("div", {"class": "files", "title": "the template files this message is made of"},
                 cell.files.map(f => "templates/" + f).join(" · ")));
  if (cell.problems.length) {
    node.append(el("div", {"class": "problems", "role": "alert"},
                   "Not sent as it stands:\\n" + cell.problems.join("\\n")));
  }
  if (cell.subject !== null) node.append(el("div", {"class": "subject"}, cell.subject));
  if (cell.html !== null) {
    const frame = el("iframe", {"class": "html", "sandbox": "", "title": "HTML email"});
    frame.srcdoc = cell.html;
    node.append(frame);
  }
  if (cell.text !== null) node.append(el("pre", {"class": "text"}, cell.text));
  if (cell.sms) {
    const phone = el("div", {"class": "phone"});
    const bubble = el("div", {"class": "bubble"});
    for (const [text, forced] of cell.sms.runs) {
      bubble.append(forced ? el("mark", {"title": "not in GSM-7: makes the whole text UCS-2"},
                                text) : document.createTextNode(text));
    }
    phone.append(bubble);
    const over = cell.sms.segments > cell.sms.budget;
    phone.append(el("div", {"class": "sms-meta" + (over ? " over" : "")},
                    cell.sms.segments + " segment(s) · " + cell.sms.encoding + " · " +
                    cell.sms.units + " units"));
    for (const gave of cell.sms.gave_way || []) {
      phone.append(el("div", {"class": "sms-meta gave-way"}, "to fit " + cell.sms.budget +
                      " segment(s): " + gave));
    }
    node.append(phone);
  }
  for (const post of cell.posts) {
    node.append(el("div", {"class": "meta"}, "where the team gets it on " + post.channel + ":"));
    node.append(el("pre", {"class": "text post", "data-channel": post.channel}, post.text));
  }
  if (cell.findings.length) {
    const list = el("ul", {"class": "findings"});
    for (const finding of cell.findings) {
      list.append(el("li", {"class": finding.startsWith("error") ? "error" : "warning"}, finding));
    }
    node.append(list);
  }
  const actions = el("div", {"class": "actions"});
  const channels = cell.sms ? ["email", "sms"] : ["email"];
  const said = el("span", {"class": "sent", "role": "status"});
  for (const channel of channels) {
    const button = el("button", {"type": "button", "data-channel": channel},
                      "Send me a test " + (channel === "sms" ? "SMS" : "email"));
    button.addEventListener("click", () => sendTest(cell.id, channel, said));
    actions.append(button);
  }
  actions.append(said);
  node.append(actions);
  return node;
}

async function sendTest(id, channel, said) {
  said.textContent = "sending…";
  try {
    const body = new URLSearchParams({cell: id, channel: channel});
    const answer = await (await fetch("/send", {method: "POST", body: body,
                                                headers: {"X-Heard-Studio": "1"}})).json();
    said.textContent = answer.ok ? "sent to " + answer.to : "not sent: " + answer.reason;
  } catch (error) {
    said.textContent = "not sent: the studio did not answer";
  }
}

function fillFilter(select, values) {
  const known = new Set([...select.options].map(o => o.value));
  for (const value of values) if (!known.has(value)) select.append(el("option", {value}, value));
}

function applyFilters() {
  const [kind, locale, persona] = filters.map(f => f.value);
  for (const node of grid.querySelectorAll(".cell")) {
    const shown = (!kind || node.dataset.kind === kind) && (!locale || node.dataset.locale === locale)
      && (!persona || node.dataset.persona === persona)
      && (!problemsOnly.checked || node.dataset.problems !== "0");
    node.classList.toggle("hidden", !shown);
  }
  for (const section of grid.querySelectorAll("section.kind")) {
    section.classList.toggle("hidden", !!kind && section.dataset.kind !== kind);
  }
}

// What the page shows, by cell id: a change fetches only the cells that changed after the
// generation the page holds (a save in one kind's folder re-renders that kind alone).
const known = new Map();
let generation = -1;

async function refresh(changedFiles) {
  let data;
  try {
    data = await (await fetch("/cells?since=" + generation)).json();
  } catch (error) {
    statusLine.textContent = "the studio is not answering; is `heard templates serve` running?";
    return;
  }
  problemBox.style.display = data.problem ? "block" : "none";
  problemBox.textContent = data.problem || "";
  const current = new Set(data.ids);
  for (const id of [...known.keys()]) {
    if (!current.has(id)) { known.delete(id); document.getElementById("cell-" + id)?.remove(); }
  }
  let updated = 0;
  for (const cell of data.cells) {
    let section = grid.querySelector('section.kind[data-kind="' + cell.kind + '"] .row');
    if (!section) {
      const wrapper = el("section", {"class": "kind", "data-kind": cell.kind});
      wrapper.append(el("h2", {"class": "kind"}, cell.kind.replaceAll("_", " ")));
      section = el("div", {"class": "row"});
      wrapper.append(section);
      grid.append(wrapper);
    }
    const fresh = cellNode(cell);
    const old = document.getElementById("cell-" + cell.id);
    if (old) { old.replaceWith(fresh); fresh.classList.add("updated"); updated += 1; }
    else section.append(fresh);
    known.set(cell.id, cell);
  }
  const every = [...known.values()];
  fillFilter(filters[0], [...new Set(every.map(c => c.kind))]);
  fillFilter(filters[1], [...new Set(every.map(c => c.locale))].sort());
  fillFilter(filters[2], [...new Set(every.map(c => c.persona))]);
  applyFilters();
  const errors = every.reduce((n, c) => n + c.problems.length +
    c.findings.filter(f => f.startsWith("error")).length, 0);
  statusLine.textContent = every.length + " messages · " + errors + " problem(s)" +
    (changedFiles ? " · updated " + updated + " after " + changedFiles.join(", ") : "");
  generation = data.generation;
  document.body.dataset.generation = data.generation;
}

// What if, and publish: each answer's lines in the report, as the command line prints them.
const report = document.getElementById("report");
async function tell(button, url, options) {
  button.disabled = true;
  report.classList.remove("hidden");
  report.dataset.state = "working";
  report.querySelector("pre").textContent = button.textContent.replace("…", "") + "…";
  try {
    const answer = await (await fetch(url, options)).json();
    report.dataset.state = answer.ok ? "done" : "refused";
    report.querySelector("pre").textContent = answer.lines.join("\\n");
  } catch (error) {
    report.dataset.state = "refused";
    report.querySelector("pre").textContent = "the studio did not answer";
  } finally {
    button.disabled = false;
  }
}
const whatifButton = document.getElementById("whatif");
const publishButton = document.getElementById("publish");
whatifButton.addEventListener("click", () => tell(whatifButton, "/whatif?since=7d", {}));
publishButton.addEventListener("click", () =>
  tell(publishButton, "/publish", {method: "POST", headers: {"X-Heard-Studio": "1"}}));

filters.forEach(f => f.addEventListener("change", applyFilters));
problemsOnly.addEventListener("change", applyFilters);
emailHeight.addEventListener("change", () =>
  document.body.style.setProperty("--email-height", emailHeight.value));
phoneWidth.addEventListener("change", () =>
  document.body.classList.toggle("phone-width", phoneWidth.checked));
const changes = new EventSource("/changes");
// One refresh at a time, in order: each asks for what changed after the one before it.
let refreshing = Promise.resolve();
function refreshInTurn(files) { refreshing = refreshing.then(() => refresh(files)); }
changes.onmessage = event => {
  const change = JSON.parse(event.data);
  if (change.generation !== generation) refreshInTurn(change.files);
};
refreshInTurn();
</script>
</body>
</html>
"""
