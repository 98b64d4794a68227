// Drawing the campaign page from its state: the header facts (status, freshness), the maps
// with their colour bars, the discovery curve against its baselines, and the spectra.
"use strict";
const Draw = (() => {
  const SPECTRA_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

  function statusWords(d) {
    if (d.waiting === "capacity" && d.status === "created") return "waiting for capacity";
    return d.status;
  }
  function settingWords(s, fallback) {
    if (typeof s === "string") return s;
    const p = Object.entries((s && s.params) || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    return `${(s && s.name) || fallback}${p ? " (" + p + ")" : ""}`;
  }
  function seconds(s) { return s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`; }

  // "plan v12 made 3 s ago; the model saw 60 of 64 measurements (4 behind, the oldest
  // waiting 2 s)": the plan data age (docs/monitor.md) counts from the oldest one it has not used
  function freshness(S) {
    const f = S.detail.freshness;
    if (!f) return "no plan yet";
    const now = Date.now() / 1000, made = `plan v${f.model_version} made ${seconds(Math.max(0, now - f.created))} ago`;
    if (!f.lag) return `${made}; the model saw all ${f.n_observed} measurements`;
    const waiting = f.oldest_unplanned === null || S.detail.final ? ""
      : `, the oldest waiting ${seconds(Math.max(0, now - f.oldest_unplanned))}`;
    return `${made}; the model saw ${f.n_observed} of ${S.detail.n_measured} measurements (${f.lag} behind${waiting})`;
  }

  function facts(S) {
    const d = S.detail, status = document.getElementById("status");
    status.textContent = statusWords(d); status.className = `status ${d.waiting === "capacity" ? "waiting" : d.status}`;
    const kv = (k, v, id) => el("span", {}, el("b", {}, k), el("span", { id }, v));
    document.getElementById("facts").replaceChildren(
      kv("owner", d.owner), kv("microscope", d.microscope), kv("edge", d.edge ? d.edge.state : "offline", "edge-state"),
      kv("measured", d.budget_points ? `${d.n_measured} / ${d.budget_points}` : d.n_measured, "n-measured"),
      kv("model", `v${d.model_version}`, "model-version"),
      kv("loop", d.loop_latency_s === null ? "-" : `${(1000 * d.loop_latency_s).toFixed(0)} ms`),
      kv("acquisition", settingWords(d.config.acquisition, "ei"), "acquisition"),
      kv("scalarizer", settingWords(d.config.scalarizer, "loop_area"), "scalarizer"),
      kv("vetoed", `${d.vetoed.length} points`, "n-vetoed"), kv("you", d.can_control ? "may control" : "watch only", "can-control"),
      kv("freshness", freshness(S), "freshness"));
    const over = document.getElementById("over");
    over.hidden = !d.final;
    over.textContent = d.final ? `This campaign is ${d.status}: what it measured and decided stays here to review.` : "";
    document.querySelectorAll("#controls button").forEach(b => { b.disabled = !!d.final; });
  }

  function mapLayers(S) {
    const d = S.detail, done = new Set(S.meas.map(m => `${m.row},${m.col}`).concat(d.vetoed.map(p => `${p[0]},${p[1]}`)));
    if (S.plan) S.plan.next = S.plan.next.filter(p => !done.has(`${p[0]},${p[1]}`));
    return { next: S.plan && !d.final ? S.plan.next.slice(0, 8) : [], vetoed: d.vetoed,
             regions: S.log.regions, added: S.log.added };
  }

  function maps(S) {
    const d = S.detail, units = d.units, layers = mapLayers(S);
    const structure = document.getElementById("map-structure"), channel = S.scan ? S.scan.channel || "image" : "no scan yet";
    Plots.image(structure, d.grid, S.scan ? S.scan.image : [], units, `${channel} (scaled 0..1)`);
    Overlays.draw(structure, d.grid, { ...layers, measured: S.meas });
    const hold = document.getElementById("hold-scale").checked;
    for (const key of ["mean", "std"]) {
      const canvas = document.getElementById(`map-${key}`);
      const label = `${key === "std" ? "std of " : ""}${S.scalarizer || "value"} (${units.scalar || "no units"})`;
      if (!S.pred) { Plots.image(canvas, d.grid, [], units, label); continue; }
      if (!hold) S.held[key] = null;
      const used = Plots.map(canvas, d.grid, S.pred[key], { stride: S.pred.stride, units,
        fixed: S.held[key], label: S.held[key] ? `${label}, held` : label });
      if (hold && !S.held[key]) S.held[key] = used;
      Overlays.draw(canvas, d.grid, layers);
      document.getElementById(`${key}-scale`).textContent =
        `model v${S.pred.model_version}: colours ${Plots.fmt(used[0])} to ${Plots.fmt(used[1])} ${units.scalar}` +
        (S.held[key] ? " (scale held)" : " (1st to 99th percentile)");
    }
  }

  function bestSoFar(vals, maximize) {
    const best = [];
    vals.forEach((v, i) => { const prev = i ? best[i - 1] : null;
      best.push(v === null ? prev : prev === null ? v : (maximize ? Math.max(prev, v) : Math.min(prev, v))); });
    return best;
  }

  function discovery(S) {
    const vals = S.meas.map(m => m.value), xs = vals.map((_, i) => i + 1), b = S.baseline;
    const series = [{ x: xs, y: vals, color: "#9ab", dots: true, label: "measured" },
                    { x: xs, y: bestSoFar(vals, S.maximize), color: "#d9480f", label: "best so far" }];
    const hlines = [], upto = b ? Math.min(b.steps, Math.max(vals.length, 10)) : 0;
    const cut = ys => ys.slice(0, upto), at = ys => ys.map((_, i) => i + 1);
    let note = "no baseline yet (no seed point scored)";
    if (b && b.kind === "truth") {
      series.push({ x: at(cut(b.random)), y: cut(b.random), color: "#1c7ed6", dash: [6, 3], label: "random scan (expected)" },
                  { x: at(cut(b.raster)), y: cut(b.raster), color: "#7048e8", dash: [2, 3], label: "raster scan" });
      hlines.push({ y: b.true_best, color: "#222", label: "true best" });
      note = `baselines from the ground truth (${b.n_truth} points, every spectrum of the replayed field of view)`;
    } else if (b && b.kind === "seed") {
      series.push({ x: at(cut(b.random)), y: cut(b.random), color: "#1c7ed6", dash: [6, 3], label: "random (estimated)" });
      hlines.push({ y: b.seed_best, color: "#666", label: `best of ${b.n_seed} seed points` });
      note = `no ground truth: the random expectation is estimated from the ${b.n_seed} seed points (it cannot exceed their best)`;
    }
    const units = S.detail.units;
    Lines.plot(document.getElementById("discovery"), series, { hlines, xlabel: "measurements",
      ylabel: `${S.scalarizer || "value"} (${units.scalar || "no units"})` });
    document.getElementById("discovery-note").textContent = note;
  }

  function spectra(S) {
    const sp = S.spectra ? S.spectra.spectra : [], u = S.detail.units, index = new Map(S.meas.map((m, i) => [m.id, i + 1]));
    Lines.plot(document.getElementById("spectra"), sp.map((s, i) => ({
      x: S.spectra.axis && S.spectra.axis.length === s.values.length ? S.spectra.axis : s.values.map((_, k) => k),
      y: s.values, color: SPECTRA_COLORS[i % SPECTRA_COLORS.length],
      label: `#${index.get(s.id) || "?"} (${s.row}, ${s.col})` })), {
      xlabel: `${u.axis_name}${u.axis_units ? " (" + u.axis_units + ")" : ""}`, ylabel: `signal (${u.signal_units})` });
  }

  function all(S) {
    if (!S.detail || !S.detail.grid) return;
    maps(S); discovery(S); spectra(S);
    document.getElementById("next-points").replaceChildren(
      ...(S.plan && !S.detail.final ? S.plan.next : []).map(p => el("li", {}, `(${p[0]}, ${p[1]})`)));
  }

  return { all, facts, statusWords };
})();
