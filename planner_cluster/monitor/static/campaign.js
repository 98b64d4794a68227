// The campaign page: its layout, the controls, and keeping its state current (drawing: draw.js).
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
    const n = sent.action === "veto" ? Events.vetoCount(sent.args, S.detail && S.detail.grid) : 0;
    const what = sent.action === "veto" ? `veto of ${n} point${n === 1 ? "" : "s"}` : ACTION_LABEL[sent.action] || sent.action;
    const label = `${what} by ${sent.user}`;
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
    const cell = Plots.toCell(event.target, S.detail.grid, event);
    if (!cell) return;  // on the axes or the colour bar
    const [r, c] = cell;
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
        if (mean !== undefined && mean !== null) info.push(`mean ${mean.toPrecision(3)} ± ${std.toPrecision(3)} ${S.detail.units.scalar}`);
      }
      document.getElementById("cell-info").textContent = info.join(" ");
    }
  }

  function card(title, ...body) { return el("div", { class: "card" }, el("h3", {}, title), ...body); }
  function mapCanvas(id) { return el("canvas", { id, class: "map", width: 480, height: 420, onclick: onMapClick }); }

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
        el("span", {}, "scalarizer ", scal, el("button", { id: "btn-scal", onclick: () => control("set_scalarizer", { name: scal.value }) }, "set")),
        el("label", { title: "keep the colour scale of the mean and std maps fixed across model versions" },
          el("input", { type: "checkbox", id: "hold-scale", onchange: () => Draw.all(S) }), "hold colour scale")),
      el("div", { id: "control-msg", class: "msg" }), el("div", { id: "cell-info" }));
    root.replaceChildren(
      el("h2", {}, "Campaign ", el("span", { id: "campaign-id" }, S.cid), " ", el("span", { id: "status", class: "status" }, "")),
      el("div", { class: "over", id: "over", hidden: true }),
      el("div", { class: "kv", id: "facts" }), controls,
      el("div", { class: "grid" },
        card("Structural image: measured points in order (latest ringed), next planned points, vetoes", mapCanvas("map-structure"),
          el("div", { class: "legend" }, "seed ", el("i", { class: "dot seed" }), " model ", el("i", { class: "dot plan" }),
            " operator ", el("i", { class: "dot operator" }), " vetoed ", el("b", { class: "veto" }, "×"))),
        card("Predicted mean", mapCanvas("map-mean"), el("div", { class: "scale", id: "mean-scale" })),
        card("Uncertainty (std)", mapCanvas("map-std"), el("div", { class: "scale", id: "std-scale" })),
        card("Discovery curve: best so far against a scan without a model", el("canvas", { id: "discovery", width: 480, height: 260 }),
          el("div", { class: "scale", id: "discovery-note" })),
        card("Latest raw spectra", el("canvas", { id: "spectra", width: 480, height: 260 })),
        card("Next planned points", el("ol", { id: "next-points" }))),
      card("Event log", el("label", {}, el("input", { type: "checkbox", id: "show-measurements", checked: true,
          onchange: e => document.getElementById("event-log").classList.toggle("no-measurements", !e.target.checked) }),
        "show each measurement"), el("div", { class: "scroll" }, el("table", { id: "event-log" },
        el("thead", {}, el("tr", {}, ["time", "who", "what", "result"].map(h => el("th", {}, h)))),
        el("tbody", { id: "event-rows" })))));
  }

  function logEvent(ev) {
    const row = Events.append(document.getElementById("event-rows"), ev, S.log, S.detail && S.detail.grid);
    if (row && ev.kind === "control_result") {
      const sent = S.pending[ev.data.control_id];
      if (sent && !sent.result) { sent.result = ev.data; render(sent); }
    }
  }

  async function fetchOr404(path) {
    try { return await api("GET", path); } catch (e) { if (e.status === 404) return null; throw e; }
  }

  async function refresh(need) {
    const base = `/api/campaigns/${encodeURIComponent(S.cid)}`;
    if (need.has("detail")) { S.detail = await api("GET", base); Draw.facts(S); }
    if (need.has("scan") || !S.scan) S.scan = await fetchOr404(`${base}/scan`);
    if (need.has("meas-all")) { S.meas = []; S.cursor = "0-0"; S.held = {}; }  // new scalar, new scale
    if (need.has("meas") || need.has("meas-all")) {
      const got = await api("GET", `${base}/measurements?after=${S.cursor}`);
      S.meas = S.meas.concat(got.measurements); S.cursor = got.cursor; S.maximize = got.maximize; S.scalarizer = got.scalarizer;
      S.spectra = await api("GET", `${base}/spectra?n=5`);
    }
    if (need.has("plan")) { S.plan = await fetchOr404(`${base}/plan`); S.pred = await fetchOr404(`${base}/predictions`); }
    const seeds = S.meas.filter(m => m.source === "seed").length;
    if (need.has("meas-all") || !S.baseline || (S.baseline.kind !== "truth" &&
        (need.has("plan") || (S.baseline.n_seed || 0) !== seeds))) S.baseline = await api("GET", `${base}/baseline`);
    Draw.all(S);
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
          plan: null, pred: null, baseline: null, held: {}, log: Events.newLog(), ready: false, early: [] };
    const options = await api("GET", "/api/options");
    S.detail = await api("GET", `/api/campaigns/${encodeURIComponent(cid)}`);
    layout(root, options);
    Draw.facts(S);
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
