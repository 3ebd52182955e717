// Passgate's operator console: reads /api/console/* on the admin listener.
// Everything shown comes from the server as data and is written with
// textContent, never as markup. The admin token, when the node has one, is
// kept in this tab's sessionStorage (or given as #token=… in the address)
// and sent as a Bearer header.
"use strict";

const POLL_CALLS_MS = 1000;
const POLL_METRICS_MS = 5000;
const POLL_SLOW_MS = 10000;
const POLL_AUDIT_MS = 5000;
const CHART_POINTS = 150;
const GOOD = new Set(["found", "match", "accepted", "authenticated", "sent", "valid", "verified", "caller_id", "yes"]);
const BAD = new Set(["no_match", "rejected", "not_found", "locked", "failed", "error", "timed_out", "silence", "unavailable", "exhausted", "expired", "invalid", "capped"]);
const CHARTS = [
  ["live_calls", "Calls in progress", "gauge"],
  ["calls", "Calls arriving", "count"],
  ["verified", "Callers verified", "count"],
  ["factor_failures", "Factor failures", "count"],
  ["sms_sent", "Codes sent", "count"],
  ["recognizer_lag_ms", "Recognizer lag (ms)", "gauge"],
];

const $ = (id) => document.getElementById(id);
let auditBefore = null;
// Older pages loaded: the periodic refresh would throw them away.
let auditPaged = false;

(function takeTokenFromAddress() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("passgate-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

function status(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem("passgate-token");
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  if (options.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    $("token-form").hidden = false;
    status("This node needs its admin token.", true);
    throw new Error("token required");
  }
  return res;
}

async function json(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(path + ": " + res.status);
  return res.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function outcomeClass(outcome) {
  if (!outcome) return "";
  if (GOOD.has(outcome) || outcome.startsWith("transferred_verified")) return "step good";
  if (BAD.has(outcome)) return "step bad";
  return "step";
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function callRow(call, live) {
  const tr = el("tr", null, live ? "live" : "");
  tr.dataset.callId = call.call_id;
  tr.dataset.stage = call.stage;
  tr.dataset.verified = call.verified_by ? "yes" : "no";
  tr.dataset.transfer = call.transfer ? call.transfer.state : "none";
  tr.dataset.outcome = call.outcome || "";
  tr.appendChild(el("td", call.caller));
  tr.appendChild(el("td", call.account || "—"));
  tr.appendChild(el("td", call.stage.replace(/_/g, " "), "stage"));
  const steps = el("td", null, "steps");
  for (const s of call.steps) {
    const text = s.event.replace(/_/g, " ") + (s.outcome ? ": " + s.outcome : "");
    const span = el("span", text, outcomeClass(s.outcome));
    span.title = (s.at_ms / 1000).toFixed(1) + " s into the call";
    steps.appendChild(span);
  }
  tr.appendChild(steps);
  tr.appendChild(el("td", call.verified_by ? "verified (" + call.verified_by.replace("_", " ") + ")" : "no",
    "verified " + (call.verified_by ? "yes" : "no")));
  const t = call.transfer;
  tr.appendChild(el("td", t ? t.state + " → " + t.target + " as " + t.auth : "—", "transfer"));
  tr.appendChild(el("td", duration(call.duration_ms)));
  tr.appendChild(el("td", call.outcome ? call.outcome.replace(/_/g, " ") : "in progress", "outcome"));
  return tr;
}

async function refreshCalls() {
  const data = await json("/api/console/calls");
  const body = $("call-rows");
  body.replaceChildren();
  for (const c of data.live) body.appendChild(callRow(c, true));
  for (const c of data.recent) body.appendChild(callRow(c, false));
  if (!body.children.length) {
    const tr = el("tr", null, "empty");
    const td = el("td", "no calls yet");
    td.colSpan = 8;
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("live-count").textContent = data.live.length;
}

function chart(key, title, kind, samples) {
  const values = samples.slice(-CHART_POINTS).map((s) => Number(s[key]) || 0);
  const box = el("div", null, "chart");
  box.dataset.metric = key;
  const head = el("div", null, "title");
  head.appendChild(el("span", title));
  const latest = values.length ? values[values.length - 1] : 0;
  const total = values.reduce((a, b) => a + b, 0);
  head.appendChild(el("b", kind === "count" ? total + " in view" : Math.round(latest * 10) / 10));
  box.appendChild(head);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 300 70");
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1, ...values);
  const step = 300 / Math.max(1, CHART_POINTS - 1);
  const offset = 300 - step * (values.length - 1);
  const points = values.map((v, i) => (offset + i * step).toFixed(1) + "," + (68 - (v / max) * 64).toFixed(1));
  if (points.length) {
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", offset.toFixed(1) + ",70 " + points.join(" ") + " 300,70");
    svg.appendChild(area);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
  }
  box.appendChild(svg);
  return box;
}

async function refreshMetrics() {
  const data = await json("/api/console/metrics");
  const charts = $("charts");
  charts.replaceChildren(...CHARTS.map(([k, t, kind]) => chart(k, t, kind, data.samples)));
  const secs = (Math.min(data.samples.length, CHART_POINTS) * data.every_ms) / 1000;
  $("metrics-window").textContent = "last " + Math.round(secs / 60 * 10) / 10 + " min, a point every " + data.every_ms / 1000 + " s";
}

async function searchAudit(more) {
  const form = new FormData($("audit-form"));
  const q = new URLSearchParams();
  for (const k of ["number", "account", "outcome"]) {
    const v = String(form.get(k) || "").trim();
    if (v) q.set(k, v);
  }
  if (more && auditBefore !== null) q.set("before", auditBefore);
  auditPaged = more;
  const res = await api("/api/console/audit?" + q.toString());
  const data = await res.json();
  if (!res.ok) {
    status(data.error || "search failed", true);
    return;
  }
  const body = $("audit-rows");
  if (!more) body.replaceChildren();
  for (const r of data.rows) {
    const tr = el("tr");
    tr.appendChild(el("td", r.id));
    tr.appendChild(el("td", r.at));
    tr.appendChild(el("td", r.call_id));
    tr.appendChild(el("td", r.event));
    const outcome = el("td");
    outcome.appendChild(el("span", r.outcome || "—", outcomeClass(r.outcome)));
    tr.appendChild(outcome);
    tr.appendChild(el("td", r.account || "—"));
    body.appendChild(tr);
  }
  auditBefore = data.next_before;
  $("audit-more").hidden = auditBefore === null;
}

async function refreshAccounts() {
  const accounts = await json("/api/console/accounts");
  const body = $("account-rows");
  body.replaceChildren();
  for (const a of accounts) {
    const tr = el("tr");
    tr.dataset.account = a.id;
    tr.appendChild(el("td", a.id));
    tr.appendChild(el("td", a.name));
    tr.appendChild(el("td", a.phones.join(", ")));
    tr.appendChild(el("td", a.balance));
    const actions = el("td");
    const set = el("button", "Set passphrase", "secondary");
    set.onclick = () => setPassphrase(a.id);
    const remove = el("button", "Remove", "danger");
    remove.onclick = () => removeAccount(a.id);
    actions.append(set, " ", remove);
    tr.appendChild(actions);
    body.appendChild(tr);
  }
}

async function reply(res, done) {
  if (res.ok) {
    $("account-message").textContent = done;
    await refreshAccounts();
  } else {
    const data = await res.json().catch(() => ({}));
    $("account-message").textContent = data.error || "refused (" + res.status + ")";
  }
}

async function setPassphrase(id) {
  const passphrase = prompt("New passphrase for " + id);
  if (!passphrase) return;
  const res = await api("/api/console/accounts/" + encodeURIComponent(id) + "/passphrase", {
    method: "PUT", body: JSON.stringify({ passphrase }),
  });
  await reply(res, "Passphrase of " + id + " replaced.");
}

async function removeAccount(id) {
  if (!confirm("Remove the account " + id + "? Its audit rows stay.")) return;
  const res = await api("/api/console/accounts/" + encodeURIComponent(id), { method: "DELETE" });
  await reply(res, "Removed " + id + ".");
}

async function addAccount(ev) {
  ev.preventDefault();
  const form = ev.target;
  const f = new FormData(form);
  const body = {
    name: String(f.get("name")),
    phones: String(f.get("phones")).split(",").map((p) => p.trim()).filter(Boolean),
    passphrase: String(f.get("passphrase")),
    balance: String(f.get("balance") || "0"),
  };
  const id = String(f.get("id") || "").trim();
  if (id) body.id = id;
  const res = await api("/api/console/accounts", { method: "POST", body: JSON.stringify(body) });
  form.elements.passphrase.value = "";
  await reply(res, "Account added.");
}

async function refreshDemo() {
  const res = await api("/api/console/demo");
  if (res.status === 404) return false;
  const d = await res.json();
  $("demo").hidden = false;
  $("demo-name").textContent = d.name;
  $("demo-number").textContent = d.number;
  $("demo-passphrase").textContent = "“" + d.passphrase + "”";
  const list = $("demo-sms");
  list.replaceChildren();
  for (const t of d.sms) list.appendChild(el("li", t.at + " to " + t.to + ": " + t.body));
  if (!d.sms.length) list.appendChild(el("li", "none yet", "empty"));
  return true;
}

function every(ms, fn) {
  const run = async () => {
    try {
      await fn();
      status("Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (e.message !== "token required") status(String(e.message || e), true);
    }
    setTimeout(run, ms);
  };
  run();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("passgate-token", $("token").value);
  $("token-form").hidden = true;
  status("");
  searchAudit(false).catch(() => {});
  refreshAccounts().catch(() => {});
});
$("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); auditBefore = null; searchAudit(false).catch((e) => status(e.message, true)); });
$("audit-more").addEventListener("click", () => searchAudit(true).catch((e) => status(e.message, true)));
$("account-form").addEventListener("submit", (ev) => addAccount(ev).catch((e) => status(e.message, true)));

every(POLL_CALLS_MS, refreshCalls);
every(POLL_METRICS_MS, refreshMetrics);
every(POLL_SLOW_MS, refreshAccounts);
every(POLL_AUDIT_MS, async () => { if (!auditPaged) await searchAudit(false); });
let demoMode = true;
every(POLL_CALLS_MS * 2, async () => { if (demoMode) demoMode = await refreshDemo(); });
