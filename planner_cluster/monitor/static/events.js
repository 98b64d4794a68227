// The event log in words ("model v65: plan of 16 points", "operator ada vetoed 81 points ..."),
// and the operator actions it has seen, for drawing on the maps.
"use strict";
const Events = (() => {
  const STATUS_WORDS = { pause: "paused", resume: "resumed", stop: "stopping", finish: "finished",
                         abort: "aborted", fail: "failed", scan: "running" };
  const SOURCE_WORDS = { seed: "seed plan", plan: "model's plan" };

  function pt(p) { return `(${p[0]}, ${p[1]})`; }
  function params(p) {
    const entries = Object.entries(p || {});
    return entries.length ? ` (${entries.map(([k, v]) => `${k} ${v}`).join(", ")})` : "";
  }
  function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

  // How many grid points a veto names (a region clipped to the grid, as the gateway does).
  function vetoCount(args, grid) {
    let n = (args.points || []).length;
    const reg = args.region;
    if (reg) {
      const [r0, c0, r1, c1] = reg, rows = grid ? grid[0] - 1 : r1, cols = grid ? grid[1] - 1 : c1;
      n += Math.max(0, Math.min(r1, rows) - Math.max(r0, 0) + 1) * Math.max(0, Math.min(c1, cols) - Math.max(c0, 0) + 1);
    }
    return n;
  }

  function control(d, grid) {
    const a = d.args || {}, who = `operator ${d.user || "?"}`;
    switch (d.action) {
      case "veto": {
        const where = [];
        if (a.region) where.push(`region rows ${a.region[0]}..${a.region[2]}, cols ${a.region[1]}..${a.region[3]}`);
        if ((a.points || []).length) where.push(a.points.length <= 3 ? a.points.map(pt).join(" ") : `${a.points.length} picked`);
        return `${who} vetoed ${plural(vetoCount(a, grid), "point")} (${where.join("; ")})`;
      }
      case "add_point": return `${who} added point ${pt(a.point || ["?", "?"])}`;
      case "set_acquisition": return `${who} set the acquisition to ${a.name}${params(a.params)}`;
      case "set_scalarizer": return `${who} set the scalarizer to ${a.name}${params(a.params)}`;
      case "set_exploration": return `${who} set the exploration weight to ${a.weight}`;
      default: return `${who} asked to ${d.action}`;
    }
  }

  function plan(d) {
    const v = d.model_version, n = plural(d.n_points, "point");
    if (!v) return `seed plan of ${n} (space-filling, no model yet)`;
    const why = d.reason ? `; ${d.reason}` : "";
    const fit = d.fit_s !== undefined ? `, fit ${Number(d.fit_s).toFixed(2)} s` : "";
    return `model v${v}: plan of ${n} (trained on ${plural(d.n_train || 0, "measurement")}${fit}${why})`;
  }

  // {who, text} for one event; `log` remembers the latest user per control action.
  function describe(ev, log, grid) {
    const d = ev.data || {};
    switch (ev.kind) {
      case "campaign_created": return { who: d.owner, text: `campaign created by ${d.owner} on ${d.edge_id}` };
      case "scan": return { who: "", text: `structural scan ${(d.shape || []).join(" x ")}${d.channels && d.channels.length ? " (" + d.channels.join(", ") + ")" : ""}` };
      case "measurement": return { who: "", text: `measured ${pt([d.row, d.col])} from the ${SOURCE_WORDS[d.source] || d.source || "edge"}` };
      case "plan": return { who: "", text: plan(d) };
      case "control": log.lastUser[d.action] = d.user; return { who: d.user, text: control(d, grid) };
      case "status": {
        const word = STATUS_WORDS[d.event] || d.status;
        const user = d.by === "control" ? log.lastUser[d.event] : "";
        const by = user ? ` by ${user}` : d.by && d.by !== "control" ? ` by the ${d.by}` : "";
        return { who: user || "", text: `campaign ${word}${by}${d.reason ? " (" + d.reason + ")" : ""}` };
      }
      case "config": return { who: "", text: `settings now: ${Object.entries(d).map(([k, v]) => `${k} ${v && v.name ? v.name + params(v.params) : JSON.stringify(v)}`).join("; ")}` };
      case "control_result": return { who: "", text: `${d.by || (d.edge_id ? "edge" : "")} ${d.status}${d.detail ? ": " + d.detail : ""}` };
      case "replanned": return { who: "", text: `the planner applied ${d.reason} from model v${d.model_version}` };
      case "waiting_for_capacity": return { who: "", text: `waiting for capacity: the planner runs ${d.active} of ${d.limit} campaigns` };
      case "planner_error": return { who: "", text: `planner error: ${d.error}` };
      case "scalarizer_error": return { who: "", text: `scalarizer ${d.scalarizer} could not score some spectra: ${(d.reasons || []).join("; ")}` };
      default: return { who: d.user || "", text: `${ev.kind.replace(/_/g, " ")}: ${Object.entries(d).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}` };
    }
  }

  // Operator actions to draw: vetoed regions and added points, each with its user.
  function remember(ev, log) {
    const d = ev.data || {};
    if (ev.kind !== "control") return;
    const a = d.args || {};
    if (d.action === "veto" && a.region) log.regions.push({ box: a.region, user: d.user });
    if (d.action === "add_point" && a.point) log.added.push({ point: a.point, user: d.user });
  }

  function newLog() { return { lastUser: {}, regions: [], added: [], seen: new Set() }; }

  // Prepend one event's row to the table body `rows` (once per event).
  function append(rows, ev, log, grid) {
    const key = ev.id || `${ev.kind}|${ev.time}`;
    if (!rows || log.seen.has(key)) return null;
    log.seen.add(key);
    remember(ev, log);
    const { who, text } = describe(ev, log, grid), d = ev.data || {};
    let result = el("td", {});
    if (ev.kind === "control") result = el("td", { class: "result", "data-control": d.control_id }, "...");
    else if (ev.kind === "control_result") {
      result = el("td", {}, el("span", { class: d.status }, d.status));
      const cell = rows.querySelector(`td.result[data-control="${d.control_id}"]`);
      if (cell) cell.replaceChildren(el("span", { class: d.status }, `${d.status}${d.detail ? ": " + d.detail : ""}`));
    }
    const row = el("tr", { "data-kind": ev.kind, "data-id": ev.id }, el("td", {}, clock(ev.time)),
      el("td", { class: "user" }, who || ""), el("td", { class: "what" }, text), result);
    rows.prepend(row);
    while (rows.children.length > 400) rows.lastChild.remove();
    return row;
  }

  return { append, describe, newLog, vetoCount };
})();
