// The monitor's single page: login, campaign list, routing, the API helper and live events.
"use strict";
const App = { me: null, csrf: "", source: null, timers: [] };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  if (method !== "GET" && App.csrf) opts.headers["X-CSRF-Token"] = App.csrf;
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    let detail = data && data.detail !== undefined ? data.detail : r.statusText;
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    const err = new Error(detail); err.status = r.status; throw err;
  }
  return data;
}

function ago(t) {
  if (!t) return "-";
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 60 ? `${s.toFixed(0)} s ago` : s < 3600 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}
function clock(t) { return new Date(t * 1000).toLocaleTimeString(); }

// Live events (SSE): one stream at a time; handler(event) per event.
function follow(path, handler) {
  stopFollowing();
  const live = document.getElementById("live");
  const source = new EventSource(path);
  source.onopen = () => { live.className = "live on"; };
  source.onerror = () => { live.className = "live off"; };
  source.onmessage = (m) => { try { handler(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  App.source = source;
}
function stopFollowing() {
  if (App.source) { App.source.close(); App.source = null; }
  App.timers.forEach(clearInterval); App.timers = [];
  document.getElementById("live").className = "live off";
}

// Coalesce bursts of events into one refresh every `ms`.
function throttle(fn, ms) {
  let pending = false;
  return () => { if (pending) return; pending = true; setTimeout(() => { pending = false; fn(); }, ms); };
}

function loginView(root, message) {
  stopFollowing();
  const err = el("div", { id: "login-error", class: "msg err" }, message || "");
  const form = el("form", { class: "login", id: "login-form" },
    el("h2", {}, "Log in"),
    el("label", {}, "name", el("input", { id: "login-name", autocomplete: "username" })),
    el("label", {}, "password", el("input", { id: "login-password", type: "password", autocomplete: "current-password" })),
    el("label", {}, "or API token", el("input", { id: "login-token", type: "password" })),
    el("button", { id: "login-submit", type: "submit" }, "log in"), err);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = document.getElementById("login-token").value.trim();
    const body = token ? { token } : { name: document.getElementById("login-name").value,
                                       password: document.getElementById("login-password").value };
    try { setMe(await api("POST", "/api/login", body)); route(); }
    catch (ex) { err.textContent = ex.message; }
  });
  root.replaceChildren(form);
}

function setMe(me) {
  App.me = me; App.csrf = (me && me.csrf_token) || "";
  document.getElementById("who").textContent = me ? `${me.name} (${me.role})` : "";
  document.getElementById("logout").hidden = !me;
}

function campaignRow(c) {
  const status = c.waiting === "capacity" && c.status === "created" ? "waiting for capacity" : c.status;
  return el("tr", { "data-campaign": c.campaign_id },
    el("td", {}, el("a", { href: `#/c/${encodeURIComponent(c.campaign_id)}` }, c.campaign_id)),
    el("td", {}, el("span", { class: `status ${c.waiting === "capacity" ? "waiting" : c.status}` }, status)),
    el("td", {}, c.owner),
    el("td", {}, c.microscope, c.edge && !c.final ? ` (${c.edge.state})` : ""),
    el("td", { class: "progress" }, c.progress === null ? `${c.n_measured}` :
      [el("span", { class: "bar" }, (() => { const s = el("span"); s.style.width = `${100 * c.progress}%`; return s; })()),
       ` ${c.n_measured} / ${c.budget_points}`]),
    el("td", {}, `v${c.model_version}`),
    el("td", {}, c.loop_latency_s === null ? "-" : `${(1000 * c.loop_latency_s).toFixed(0)} ms`),
    el("td", { "data-time": c.last_activity }, ago(c.last_activity)));
}

// Live campaigns first; finished, aborted and failed ones below, newest first, to review.
async function listView(root) {
  const heads = ["campaign", "status", "owner", "microscope", "progress", "model", "loop latency", "last activity"];
  const table = (id, bodyId) => el("table", { id }, el("thead", {}, el("tr", {}, heads.map(h => el("th", {}, h)))), el("tbody", { id: bodyId }));
  root.replaceChildren(el("h2", {}, "Campaigns"), table("campaigns", "campaign-rows"),
    el("h2", { class: "finished-head" }, "Finished campaigns"), table("finished-campaigns", "finished-rows"));
  const load = async () => {
    const rows = await api("GET", "/api/campaigns");
    const live = rows.filter(c => !c.final), over = rows.filter(c => c.final).sort((a, b) => b.last_activity - a.last_activity);
    const fill = (body, list, empty) => {
      body.replaceChildren(...list.map(campaignRow));
      if (!list.length) body.append(el("tr", {}, el("td", { colspan: heads.length }, empty)));
    };
    fill(document.getElementById("campaign-rows"), live, "no live campaigns");
    fill(document.getElementById("finished-rows"), over, "none finished yet");
  };
  await load();
  const reload = throttle(() => load().catch(console.error), 1000);
  follow("/api/stream", reload);
  App.timers.push(setInterval(() => document.querySelectorAll("td[data-time]").forEach(
    td => { td.textContent = ago(Number(td.dataset.time)); }), 5000));
}

async function route() {
  const root = document.getElementById("app");
  if (!App.me) {
    try { setMe(await api("GET", "/api/me")); }
    catch (e) { setMe(null); return loginView(root, ""); }
  }
  const m = location.hash.match(/^#\/c\/(.+)$/);
  try {
    if (m) await Campaign.view(root, decodeURIComponent(m[1]));
    else await listView(root);
  } catch (e) {
    if (e.status === 401) { setMe(null); return loginView(root, e.message); }
    root.replaceChildren(el("div", { class: "msg err", id: "page-error" }, e.message));
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { console.error(e); }
  setMe(null); route();
});
window.addEventListener("hashchange", route);
route();
