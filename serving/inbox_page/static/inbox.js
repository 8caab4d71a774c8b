// The agents' inbox: reads the queue from /v1/inbox, sends corrections to /v1/feedback.
// No framework, no CDN: the DOM is built with createElement/textContent (never innerHTML), so a
// tweet can never inject markup into the page.
"use strict";

const REFRESH_MS = 5000;
const INTENT_CHOICES = [
  ["complaint", ["complaint"]], ["question", ["question"]], ["praise", ["praise"]],
  ["complaint + question", ["complaint", "question"]], ["praise + question", ["praise", "question"]],
  ["other", []],
];
const SENTIMENTS = ["negative", "neutral", "positive"];
const URGENCY = ["low", "normal", "high", "critical"];
const DM_REASON_TEXT = {
  personal_data_exposed: "personal data in public",
  account_data_needed: "needs account data",
  security_concern: "security concern",
  heated_exchange: "heated exchange",
};

const state = {
  items: [],
  known: new Set(),      // tweet ids seen, to highlight new arrivals
  selected: null,        // tweet id of the selected card
  revealed: new Map(),   // tweet id -> text as received
  explained: new Map(),  // tweet id -> explanation
  firstLoad: true,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// --- API ----------------------------------------------------------------------------------------

function apiKey() { return sessionStorage.getItem("triage.apiKey") || ""; }
function agentName() { return ($("#agent").value || "").trim() || "agent"; }

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (apiKey()) headers["X-API-Key"] = apiKey();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    $("#keyprompt").hidden = false;
    throw new Error("an API key is needed");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// A write retried with the same Idempotency-Key is stored once (network errors, 429, 503).
async function sendOnce(method, path, body) {
  const key = newKey();
  for (let attempt = 0; ; attempt++) {
    try {
      return await api(method, path, body, { "Idempotency-Key": key });
    } catch (error) {
      const retriable = error.status === undefined || error.status === 429 || error.status === 503;
      if (!retriable || attempt >= 3 || error.message === "an API key is needed") throw error;
      await new Promise((resolve) => setTimeout(resolve, 400 * (attempt + 1)));
    }
  }
}

// --- the queue ----------------------------------------------------------------------------------

function filterQuery() {
  const params = new URLSearchParams({ status: "open", sort: "priority", limit: "500" });
  const ranks = [...document.querySelectorAll("input[name=rank]:checked")].map((box) => box.value);
  if (ranks.length < 4) (ranks.length ? ranks : ["none"]).forEach((rank) => params.append("rank", rank));
  if ($("#filter-intent").value) params.set("intent", $("#filter-intent").value);
  if ($("#filter-dm").value) params.set("dm", $("#filter-dm").value);
  return params;
}

async function refresh(auto = false) {
  // Never rebuild the cards under an agent who is choosing a correction.
  if (auto === true && document.activeElement && document.activeElement.closest(".card select")) return;
  const params = filterQuery();
  if (params.getAll("rank").includes("none")) { state.items = []; render(0); return; }
  try {
    const page = await api("GET", `/v1/inbox?${params}`);
    state.items = page.items;
    render(page.total);
  } catch (error) {
    $("#summary").textContent = `cannot load the queue: ${error.message}`;
  }
}

function render(total) {
  const queue = $("#queue");
  const fresh = new Set();
  for (const item of state.items) {
    if (!state.known.has(item.tweet_id) && !state.firstLoad) fresh.add(item.tweet_id);
    state.known.add(item.tweet_id);
  }
  state.firstLoad = false;
  const counts = { P1: 0, P2: 0, P3: 0, P4: 0 };
  for (const item of state.items) counts[item.result.priority.rank] += 1;
  const shown = state.items.length;
  $("#summary").textContent = `${total} open${shown < total ? ` (${shown} shown)` : ""} · ` +
    Object.entries(counts).map(([rank, n]) => `${rank} ${n}`).join(" · ") +
    ` · updated ${new Date().toLocaleTimeString()}`;
  queue.replaceChildren(...state.items.map((item) => card(item, fresh.has(item.tweet_id))));
  if (!state.items.length) queue.append(el("p", { class: "empty", text: "Nothing to answer. 🎉" }));
  if (!state.items.some((item) => item.tweet_id === state.selected)) state.selected = state.items.length ? state.items[0].tweet_id : null;
  markSelected(false);
  tick();
}

function card(item, isFresh) {
  const result = item.result;
  const priority = result.priority;
  const node = el("article", {
    class: `card${isFresh ? " fresh" : ""}`, tabindex: "-1", "data-id": item.tweet_id, "data-rank": priority.rank,
    onclick: () => { state.selected = item.tweet_id; markSelected(false); },
  });
  node.style.setProperty("--rank-color", priority.badge.color);
  const badge = el("span", { class: "badge", text: priority.badge.text, title: `priority score ${priority.score}` });
  badge.style.backgroundColor = priority.badge.color;
  node.append(el("header", {},
    badge,
    el("span", { class: "reasons", text: priority.reasons.join(" · ") }),
    el("span", { class: "countdown", "data-respond-by": priority.respond_by, title: `respond by ${priority.respond_by}` }),
  ));
  node.append(textBlock(item));
  node.append(meta(item));
  node.append(actions(item));
  if (state.explained.has(item.tweet_id)) node.append(explanationBlock(state.explained.get(item.tweet_id)));
  return node;
}

function textBlock(item) {
  const revealed = state.revealed.get(item.tweet_id);
  const text = revealed !== undefined ? revealed : item.redacted_text;
  const block = el("p", { class: "text" });
  const phrases = state.explained.has(item.tweet_id) ? highlightPhrases(state.explained.get(item.tweet_id)) : [];
  appendHighlighted(block, text, phrases);
  return block;
}

function meta(item) {
  const result = item.result;
  const fixed = item.corrections || {};
  const chips = el("div", { class: "meta" });
  const tags = "intent" in fixed ? fixed.intent : result.intent.tags;
  for (const tag of (tags.length ? tags : ["other"])) {
    chips.append(el("span", { class: `chip intent${"intent" in fixed ? " corrected" : ""}`, text: tag }));
  }
  const sentiment = fixed.sentiment || result.sentiment.label;
  const mark = { negative: "▼", neutral: "●", positive: "▲" }[sentiment];
  chips.append(el("span", {
    class: `chip sentiment ${sentiment}${"sentiment" in fixed ? " corrected" : ""}`,
    text: `${mark} ${sentiment}${"sentiment" in fixed ? "" : ` ${result.sentiment.score.toFixed(2)}`}`,
  }));
  const urgency = "urgency" in fixed ? fixed.urgency : result.urgency.level;
  chips.append(el("span", { class: `chip urgency${"urgency" in fixed ? " corrected" : ""}`, text: `urgency ${URGENCY[urgency]}` }));
  const dm = "dm" in fixed ? fixed.dm : result.dm.suggest;
  const why = result.dm.reasons.map((reason) => DM_REASON_TEXT[reason] || reason).join(", ");
  chips.append(el("span", {
    class: `chip dm ${dm ? "yes" : "no"}${"dm" in fixed ? " corrected" : ""}`,
    text: dm ? `✉ move to DM${why && !("dm" in fixed) ? `: ${why}` : ""}` : "answer in public",
  }));
  if (result.pii.length) chips.append(el("span", { class: "chip pii", text: `${result.pii.length} personal data masked` }));
  return chips;
}

function select(name, label, options, onChange) {
  const box = el("select", { class: `fix-${name}`, "aria-label": label, onchange: (event) => {
    if (event.target.value !== "") onChange(event.target.value);
    event.target.value = "";
  } }, el("option", { value: "", text: label }));
  for (const [text, value] of options) box.append(el("option", { value, text }));
  return box;
}

function actions(item) {
  const id = item.tweet_id;
  return el("div", { class: "actions" },
    select("intent", "Correct intent…", INTENT_CHOICES.map(([text, tags]) => [text, tags.join(",")]),
      (value) => correct(id, "intent", value ? value.split(",") : [])),
    select("sentiment", "Correct sentiment…", SENTIMENTS.map((s) => [s, s]), (value) => correct(id, "sentiment", value)),
    select("urgency", "Correct urgency…", URGENCY.map((u, level) => [u, String(level)]),
      (value) => correct(id, "urgency", Number(value))),
    select("dm", "Correct DM…", [["move to DM", "true"], ["answer in public", "false"]],
      (value) => correct(id, "dm", value === "true")),
    el("button", { type: "button", class: "explain", text: state.explained.has(id) ? "Hide why" : "Why? (e)",
      onclick: () => toggleExplanation(id) }),
    item.result.pii.length ? el("button", { type: "button", class: "reveal",
      text: state.revealed.has(id) ? "Mask (r)" : "Reveal (r)", onclick: () => toggleReveal(id) }) : null,
    el("button", { type: "button", class: "handled", text: "Handled (h)", onclick: () => markHandled(id) }),
  );
}

// --- explanation ----------------------------------------------------------------------------------

function highlightPhrases(explanation) {
  const phrases = new Set();
  for (const entries of Object.values(explanation || {})) {
    for (const entry of entries || []) if (entry.weight > 0 && entry.phrase && entry.phrase.length > 1) phrases.add(entry.phrase);
  }
  return [...phrases].sort((a, b) => b.length - a.length);
}

function appendHighlighted(block, text, phrases) {
  if (!phrases.length) { block.textContent = text; return; }
  const escaped = phrases.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  // Whole words only: "my" must not light up inside "amyl".
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${escaped.join("|")})(?![\\p{L}\\p{N}_])`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) block.append(text.slice(last, match.index));
    block.append(el("mark", { text: match[0] }));
    last = match.index + match[0].length;
  }
  block.append(text.slice(last));
}

function explanationBlock(explanation) {
  const list = el("dl", { class: "explanation" });
  for (const [head, entries] of Object.entries(explanation || {})) {
    const words = (entries || []).map((entry) => `${entry.phrase} (${entry.weight > 0 ? "+" : ""}${entry.weight.toFixed(2)})`);
    list.append(el("dt", { text: head }), el("dd", { text: words.join(", ") || "—" }));
  }
  return list;
}

async function toggleExplanation(id) {
  if (state.explained.has(id)) state.explained.delete(id);
  else state.explained.set(id, (await api("GET", `/v1/inbox/${encodeURIComponent(id)}`)).explanation);
  rerender(id);
}

async function toggleReveal(id) {
  if (state.revealed.has(id)) state.revealed.delete(id);
  else state.revealed.set(id, (await api("GET", `/v1/inbox/${encodeURIComponent(id)}`)).text);
  rerender(id);
}

function rerender(id) {
  const item = state.items.find((candidate) => candidate.tweet_id === id);
  const old = document.querySelector(`.card[data-id="${CSS.escape(id)}"]`);
  if (item && old) old.replaceWith(card(item, false));
  markSelected(false);
  tick();
}

// --- writes -------------------------------------------------------------------------------------------

async function correct(id, field, value) {
  try {
    const row = await sendOnce("POST", "/v1/feedback", { tweet_id: id, field, value, agent: agentName() });
    const item = state.items.find((candidate) => candidate.tweet_id === id);
    if (item) { item.corrections = { ...(item.corrections || {}), [field]: row.value }; rerender(id); }
    toast(`${field} corrected, thank you: the next model learns from it`);
  } catch (error) {
    toast(`correction not sent: ${error.message}`);
  }
}

async function markHandled(id) {
  try {
    await sendOnce("PATCH", `/v1/inbox/${encodeURIComponent(id)}`, { status: "handled", agent: agentName() });
    const index = state.items.findIndex((item) => item.tweet_id === id);
    state.items.splice(index, 1);
    const next = state.items[Math.min(index, state.items.length - 1)];
    state.selected = next ? next.tweet_id : null;
    document.querySelector(`.card[data-id="${CSS.escape(id)}"]`)?.remove();
    markSelected(true);
    toast("marked handled");
  } catch (error) {
    toast(`not marked handled: ${error.message}`);
  }
}

let toastTimer = null;
function toast(message) {
  const box = $("#toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 3000);
}

// --- countdowns -----------------------------------------------------------------------------------------

function duration(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes >= 60 * 24) return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`;
  if (minutes >= 60) return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${minutes}m ${String(Math.floor((ms % 60000) / 1000)).padStart(2, "0")}s`;
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".countdown")) {
    const left = Date.parse(node.dataset.respondBy) - now;
    node.classList.toggle("breached", left < 0);
    node.textContent = left >= 0 ? `respond in ${duration(left)}` : `overdue by ${duration(-left)}`;
  }
}

// --- keyboard ---------------------------------------------------------------------------------------------

function markSelected(scroll) {
  for (const node of document.querySelectorAll(".card")) {
    const on = node.dataset.id === state.selected;
    node.classList.toggle("selected", on);
    if (on && scroll) { node.scrollIntoView({ block: "nearest" }); node.focus({ preventScroll: true }); }
  }
}

function move(step) {
  if (!state.items.length) return;
  const index = state.items.findIndex((item) => item.tweet_id === state.selected);
  const next = Math.max(0, Math.min(state.items.length - 1, (index < 0 ? 0 : index + step)));
  state.selected = state.items[next].tweet_id;
  markSelected(true);
}

function onKey(event) {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const id = state.selected;
  const keys = {
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    e: () => id && toggleExplanation(id),
    r: () => id && state.items.find((item) => item.tweet_id === id)?.result.pii.length && toggleReveal(id),
    h: () => id && markHandled(id),
    "?": () => { $("#help").hidden = !$("#help").hidden; },
    0: () => setRanks(["P1", "P2", "P3", "P4"]),
  };
  for (const rank of ["1", "2", "3", "4"]) keys[rank] = () => setRanks([`P${rank}`]);
  const action = keys[event.key];
  if (action) { event.preventDefault(); action(); }
}

function setRanks(ranks) {
  for (const box of document.querySelectorAll("input[name=rank]")) box.checked = ranks.includes(box.value);
  refresh();
}

// --- start ------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#agent").value = localStorage.getItem("triage.agent") || "";
  $("#agent").addEventListener("change", () => localStorage.setItem("triage.agent", agentName()));
  $("#filters").addEventListener("change", (event) => { if (event.target.id !== "agent") refresh(); });
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#help-button").addEventListener("click", () => { $("#help").hidden = !$("#help").hidden; });
  $("#apikey-save").addEventListener("click", () => {
    sessionStorage.setItem("triage.apiKey", $("#apikey").value.trim());
    $("#keyprompt").hidden = true;
    refresh();
  });
  document.addEventListener("keydown", onKey);
  refresh();
  setInterval(() => refresh(true), REFRESH_MS);   // new tweets appear (highlighted) as they arrive
  setInterval(tick, 1000);            // countdowns
});
