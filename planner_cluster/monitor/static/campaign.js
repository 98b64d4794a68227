// The campaign page: maps, discovery curve, spectra, event log, and the controls.
"use strict";
const Campaign = (() => {
  let S = null;
  const ACTION_LABEL = { set_acquisition: "acquisition", set_scalarizer: "scalarizer", add_point: "add point" };

  function msg(text, kind) {
    const node = document.getElementById("control-msg");
    if (node) { node.textContent = text; node.className = `msg ${kind}`; }
  }

  async function control(action, args) {
    msg(`${action}: sending...`, "wait");
    try {
      const sent = await api("POST", `/api/campaigns/${encodeURIComponent(S.cid)}/controls`, { action, args });
      S.pending[sent.control_id] = sent; S.last = sent.control_id;
      render(sent);
      watchControl(S.cid, sent.control_id, 0);
    } catch (e) { msg(`${action} refused: ${e.message}`, "err"); }
  }

  const PLANNER_ACTIONS = new Set(["set_acquisition", "set_scalarizer"]);
  function done(sent) { return PLANNER_ACTIONS.has(sent.action) ? !!sent.applied : !!sent.result; }

  // What became of the latest control: the edge's answer, or for the planner's own actions
  // (which the edge leaves to the planner) the planner's replan.
  function render(sent) {
    if (S.last !== sent.control_id) return;
    const label = `${ACTION_LABEL[sent.action] || sent.action} by ${sent.user}`;
    if (PLANNER_ACTIONS.has(sent.action)) {
      if (sent.applied) msg(`${label}: applied by the planner (replanned)`, "ok");
      else msg(`${label}: sent; waiting for the planner to replan...`, "wait");
    } else if (sent.result) {
      const r = sent.result;
      msg(`${label}: edge ${r.status}${r.detail ? " (" + r.detail + ")" : ""}`, r.status === "accepted" ? "ok" : "err");
    } else msg(`${label}: sent; waiting for the edge...`, "wait");
  }

  // The live stream normally brings the answers; this catches any it missed.
  function watchControl(cid, id, tries) {
    if (!S || S.cid !== cid || done(S.pending[id]) || tries > 40) return;
    setTimeout(async () => {
      try {
        const got = await api("GET", `/api/campaigns/${encodeURIComponent(cid)}/controls/${id}`);
        const sent = S && S.cid === cid ? S.pending[id] : null;
        if (sent) {
          if (got.results.length && !sent.result) sent.result = got.results[0].data;
          if (got.planner_applied) sent.applied = true;
          render(sent);
        }
      } catch (e) { console.error(e); }
      watchControl(cid, id, tries + 1);
    }, 1000);
  }

  function onMapClick(event) {
    if (!S.detail || !S.detail.grid) return;
    const [r, c] = Plots.toCell(event.target, S.detail.grid, event);
    const mode = document.querySelector("input[name=mode]:checked").value;
    if (mode === "veto-point") control("veto", { points: [[r, c]] });
    else if (mode === "add-point") control("add_point", { point: [r, c] });
    else if (mode === "veto-region") {
      if (!S.corner) { S.corner = [r, c]; msg(`region from (${r}, ${c}): click the opposite corner`, "wait"); return; }
      const [r0, c0] = S.corner; S.corner = null;
      control("veto", { region: [Math.min(r0, r), Math.min(c0, c), Math.max(r0, r), Math.max(c0, c)] });
    } else {
      const info = [`(${r}, ${c})`];
      if (S.pred) {
        const s = S.pred.stride, i = Math.floor(r / s), j = Math.floor(c / s);
        const mean = S.pred.mean[i] && S.pred.mean[i][j], std = S.pred.std[i] && S.pred.std[i][j];
        if (mean !== undefined && mean !== null) info.push(`mean ${mean.toPrecision(3)} ± ${std.toPrecision(3)}`);
      }
      document.getElementById("cell-info").textContent = info.join(" ");
    }
  }

  function card(title, ...body) { return el("div", { class: "card" }, el("h3", {}, title), ...body); }
  function mapCanvas(id) { return el("canvas", { id, class: "map", width: 400, height: 400, onclick: onMapClick }); }

  function layout(root, options) {
    const acq = el("select", { id: "acq-name" }, Object.keys(options.acquisitions).map(a => el("option", { value: a }, a)));
    const scal = el("select", { id: "scal-name" }, Object.keys(options.scalarizers).map(a => el("option", { value: a }, a)));
    const mode = (value, label, checked) => el("label", {}, el("input", { type: "radio", name: "mode", value, id: `mode-${value}`, checked }), label);
    const controls = el("div", { class: "card", id: "controls" }, el("h3", {}, "Controls"),
      el("div", { class: "controls" },
        el("button", { id: "btn-pause", onclick: () => control("pause", {}) }, "pause"),
        el("button", { id: "btn-resume", onclick: () => control("resume", {}) }, "resume"),
        el("button", { id: "btn-stop", onclick: () => control("stop", {}) }, "stop"),
        el("fieldset", {}, el("legend", {}, "click on a map to"), mode("inspect", "inspect", true),
          mode("veto-point", "veto point"), mode("veto-region", "veto region"), mode("add-point", "add point")),
        el("span", {}, "acquisition ", acq, el("input", { id: "acq-param", size: 5, placeholder: "xi/beta" }),
          el("button", { id: "btn-acq", onclick: () => {
            const name = acq.value, p = options.acquisitions[name], v = document.getElementById("acq-param").value;
            control("set_acquisition", { name, params: p.length && v !== "" ? { [p[0]]: Number(v) } : {} });
          } }, "set")),
        el("span", {}, "exploration ", el("input", { id: "explore-weight", size: 5, value: "1" }),
          el("button", { id: "btn-explore", onclick: () => control("set_exploration", { weight: Number(document.getElementById("explore-weight").value) }) }, "set")),
        el("span", {}, "scalarizer ", scal, el("button", { id: "btn-scal", onclick: () => control("set_scalarizer", { name: scal.value }) }, "set"))),
      el("div", { id: "control-msg", class: "msg" }), el("div", { id: "cell-info" }));
    root.replaceChildren(
      el("h2", {}, "Campaign ", el("span", { id: "campaign-id" }, S.cid), " ", el("span", { id: "status", class: "status" }, "")),
      el("div", { class: "kv", id: "facts" }), controls,
      el("div", { class: "grid" },
        card("Structural image, measured points (in order) and next planned points", mapCanvas("map-structure")),
        card("Predicted mean", mapCanvas("map-mean"), el("div", { class: "scale", id: "mean-scale" })),
        card("Uncertainty (std)", mapCanvas("map-std"), el("div", { class: "scale", id: "std-scale" })),
        card("Discovery curve (best so far)", el("canvas", { id: "discovery", width: 400, height: 220 })),
        card("Latest raw spectra", el("canvas", { id: "spectra", width: 400, height: 220 })),
        card("Next planned points", el("ol", { id: "next-points" }))),
      card("Event log", el("table", { id: "event-log" }, el("tbody", { id: "event-rows" }))));
  }

  function facts() {
    const d = S.detail, status = document.getElementById("status");
    status.textContent = d.status; status.className = `status ${d.status}`;
    const acq = d.config.acquisition || {}, scal = d.config.scalarizer || {};
    const kv = (k, v, id) => el("span", {}, el("b", {}, k), el("span", { id }, v));
    document.getElementById("facts").replaceChildren(
      kv("owner", d.owner), kv("microscope", d.microscope), kv("edge", d.edge ? d.edge.state : "offline", "edge-state"),
      kv("measured", d.budget_points ? `${d.n_measured} / ${d.budget_points}` : d.n_measured, "n-measured"),
      kv("model", `v${d.model_version}`, "model-version"),
      kv("loop", d.loop_latency_s === null ? "-" : `${(1000 * d.loop_latency_s).toFixed(0)} ms`),
      kv("acquisition", typeof acq === "string" ? acq : `${acq.name || "ei"} ${JSON.stringify(acq.params || {})}`, "acquisition"),
      kv("scalarizer", typeof scal === "string" ? scal : scal.name || "loop_area", "scalarizer"),
      kv("vetoed", d.vetoed.length, "n-vetoed"), kv("you", d.can_control ? "may control" : "watch only", "can-control"));
  }

  function draw() {
    const d = S.detail;
    if (!d || !d.grid) return;
    const done = new Set(S.meas.map(m => `${m.row},${m.col}`).concat(d.vetoed.map(p => `${p[0]},${p[1]}`)));
    if (S.plan) S.plan.next = S.plan.next.filter(p => !done.has(`${p[0]},${p[1]}`));
    const layers = { measured: S.meas, next: S.plan ? S.plan.next.slice(0, 8) : [], vetoed: d.vetoed };
    const structure = document.getElementById("map-structure");
    if (S.scan) Plots.paint(structure, S.scan.image, Plots.gray); else Plots.paint(structure, [], Plots.gray);
    Plots.overlay(structure, d.grid, layers);
    for (const [id, key] of [["map-mean", "mean"], ["map-std", "std"]]) {
      const canvas = document.getElementById(id);
      if (!S.pred) { Plots.paint(canvas, [], Plots.gray); continue; }
      const [lo, hi] = Plots.heat(canvas, S.pred[key], d.grid, S.pred.stride);
      Plots.overlay(canvas, d.grid, { measured: [], next: layers.next, vetoed: d.vetoed });
      document.getElementById(`${key}-scale`).replaceChildren(el("span", {}, lo.toPrecision(3)),
        el("span", {}, `model v${S.pred.model_version}`), el("span", {}, hi.toPrecision(3)));
    }
    const vals = S.meas.map(m => m.value), best = [];
    vals.forEach((v, i) => { const prev = i ? best[i - 1] : null;
      best.push(v === null ? prev : prev === null ? v : (S.maximize ? Math.max(prev, v) : Math.min(prev, v))); });
    const xs = vals.map((_, i) => i + 1);
    Plots.lines(document.getElementById("discovery"), [
      { x: xs, y: vals, color: "#9ab", dots: true }, { x: xs, y: best, color: "#d9480f" }], `points (${S.scalarizer})`);
    const sp = S.spectra ? S.spectra.spectra : [], colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
    Plots.lines(document.getElementById("spectra"), sp.map((s, i) => ({
      x: S.spectra.axis && S.spectra.axis.length === s.values.length ? S.spectra.axis : s.values.map((_, k) => k),
      y: s.values, color: colors[i % colors.length] })), sp.map(s => `(${s.row},${s.col})`).join(" "));
    document.getElementById("next-points").replaceChildren(...(S.plan ? S.plan.next : []).map(p => el("li", {}, `(${p[0]}, ${p[1]})`)));
  }

  function logEvent(ev) {
    const d = ev.data || {}, rows = document.getElementById("event-rows"), key = `${ev.kind}|${ev.time}`;
    if (!rows || S.logged.has(key)) return;
    S.logged.add(key);
    let who = d.user || "", text = "", result = null;
    if (ev.kind === "control") text = `${d.action} ${JSON.stringify(d.args || {})} (${d.origin || ""})`;
    else if (ev.kind === "control_result") {
      result = el("span", { class: d.status }, d.status); text = d.detail || "";
      const cell = rows.querySelector(`td.result[data-control="${d.control_id}"]`);
      if (cell) cell.replaceChildren(el("span", { class: d.status }, `${d.status}${d.detail ? ": " + d.detail : ""}`));
      const sent = S.pending[d.control_id];
      if (sent && !sent.result) { sent.result = d; render(sent); }
    } else if (ev.kind === "measurement") text = `(${d.row}, ${d.col}) ${d.source || ""}`;
    else text = JSON.stringify(d);
    const row = el("tr", { "data-kind": ev.kind, "data-id": ev.id }, el("td", {}, clock(ev.time)), el("td", {}, ev.kind),
      el("td", { class: "user" }, who), el("td", {}, text),
      ev.kind === "control" ? el("td", { class: "result", "data-control": d.control_id }, "...") : el("td", {}, result));
    rows.prepend(row);
    while (rows.children.length > 400) rows.lastChild.remove();
  }

  async function fetchOr404(path) {
    try { return await api("GET", path); } catch (e) { if (e.status === 404) return null; throw e; }
  }

  async function refresh(need) {
    const base = `/api/campaigns/${encodeURIComponent(S.cid)}`;
    if (need.has("detail")) { S.detail = await api("GET", base); facts(); }
    if (need.has("scan") || !S.scan) S.scan = await fetchOr404(`${base}/scan`);
    if (need.has("meas-all")) { S.meas = []; S.cursor = "0-0"; }
    if (need.has("meas") || need.has("meas-all")) {
      const got = await api("GET", `${base}/measurements?after=${S.cursor}`);
      S.meas = S.meas.concat(got.measurements); S.cursor = got.cursor; S.maximize = got.maximize; S.scalarizer = got.scalarizer;
      S.spectra = await api("GET", `${base}/spectra?n=5`);
    }
    if (need.has("plan")) { S.plan = await fetchOr404(`${base}/plan`); S.pred = await fetchOr404(`${base}/predictions`); }
    draw();
  }

  function onEvent(ev) {
    if (ev.campaign_id !== S.cid) return;
    logEvent(ev);
    if (ev.kind === "replanned") {
      const sent = Object.values(S.pending).find(p => p.action === ev.data.reason && !p.applied);
      if (sent) { sent.applied = true; render(sent); }
    }
    const k = ev.kind;
    if (k === "measurement") S.need.add("meas").add("detail");
    else if (k === "plan") S.need.add("plan").add("detail");
    else if (k === "scan") S.need.add("scan").add("detail");
    else if ((k === "config" && ev.data.scalarizer) || (k === "replanned" && ev.data.reason === "set_scalarizer")) S.need.add("meas-all").add("detail");
    else S.need.add("detail");
    S.flush();
  }

  async function view(root, cid) {
    stopFollowing();
    S = { cid, pending: {}, meas: [], cursor: "0-0", need: new Set(), corner: null, scan: null,
          plan: null, pred: null, logged: new Set(), ready: false, early: [] };
    const options = await api("GET", "/api/options");
    S.detail = await api("GET", `/api/campaigns/${encodeURIComponent(cid)}`);
    layout(root, options);
    facts();
    const acq = S.detail.config.acquisition || {}, scal = S.detail.config.scalarizer || {};
    document.getElementById("acq-name").value = typeof acq === "string" ? acq : acq.name || "ei";
    document.getElementById("scal-name").value = typeof scal === "string" ? scal : scal.name || "loop_area";
    S.flush = throttle(() => { const need = S.need; S.need = new Set(); refresh(need).catch(console.error); }, 250);
    // Follow first and hold what arrives, so nothing between the first load and the stream is lost.
    follow(`/api/stream?campaign=${encodeURIComponent(cid)}`, ev => S.ready ? onEvent(ev) : S.early.push(ev));
    const events = await api("GET", `/api/campaigns/${encodeURIComponent(cid)}/events?n=200`);
    events.forEach(logEvent);
    await refresh(new Set(["detail", "scan", "meas", "plan"]));
    S.ready = true;
    S.early.forEach(onEvent); S.early = [];
    App.timers.push(setInterval(() => { S.need.add("detail"); S.flush(); }, 3000));
  }

  return { view, get state() { return S; } };
})();
