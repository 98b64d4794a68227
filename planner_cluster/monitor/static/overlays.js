// What is drawn over a map: the measured path (numbered, the latest highlighted), the next
// planned points, vetoed points and regions, and the points operators added.
"use strict";
const Overlays = (() => {
  const TAIL = 4;  // only the last few moves are joined by lines: direction without a tangle

  function label(ctx, text, x, y, color) {
    ctx.font = "bold 9px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
    ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.85)"; ctx.strokeText(text, x, y);
    ctx.fillStyle = color; ctx.fillText(text, x, y);
  }

  // Which measurements get their number written: all when few, else every k-th and the last.
  function numbered(n) {
    const every = n <= 40 ? 1 : Math.ceil(n / 40);
    return i => i === n - 1 || (i + 1) % every === 0;
  }

  function path(canvas, grid, measured) {
    const ctx = canvas.getContext("2d"), a = Plots.area(canvas, grid), rad = Math.max(2, a.cell * 0.3);
    const n = measured.length, show = numbered(n);
    const at = m => Plots.toPixel(canvas, grid, m.row, m.col);
    if (n > 1) {
      ctx.strokeStyle = "rgba(214,72,15,0.8)"; ctx.lineWidth = 1.5; ctx.beginPath();
      measured.slice(-TAIL - 1).forEach((m, i) => { const [x, y] = at(m); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
      ctx.stroke();
    }
    measured.forEach((m, i) => {
      const [x, y] = at(m);
      ctx.fillStyle = m.source === "seed" ? "#ffd43b" : m.source === "plan" ? "#ff922b" : "#51cf66";
      ctx.strokeStyle = "#222"; ctx.lineWidth = 0.8;
      ctx.beginPath(); ctx.arc(x, y, rad, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      if (show(i) && i !== n - 1) label(ctx, String(i + 1), x + rad, y - rad, "#7a2b00");
    });
    if (n) {  // the latest: a ring and its number
      const [x, y] = at(measured[n - 1]);
      ctx.strokeStyle = "#e03131"; ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.arc(x, y, rad + 4, 0, 2 * Math.PI); ctx.stroke();
      label(ctx, `${n} (latest)`, x + rad + 4, y - rad - 2, "#c92a2a");
    }
    canvas.dataset.path = JSON.stringify({ points: n, numbered: measured.filter((_, i) => show(i)).length,
                                           latest: n ? [measured[n - 1].row, measured[n - 1].col] : null, lines: Math.min(n - 1, TAIL) });
  }

  function next(canvas, grid, points) {
    const ctx = canvas.getContext("2d"), a = Plots.area(canvas, grid), rad = Math.max(3, a.cell * 0.35);
    points.forEach((p, i) => {
      const [x, y] = Plots.toPixel(canvas, grid, p[0], p[1]);
      ctx.strokeStyle = "#0c8599"; ctx.lineWidth = 2; ctx.setLineDash([3, 2]);
      ctx.beginPath(); ctx.arc(x, y, rad + 2, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
      label(ctx, `next ${i + 1}`, x + rad + 2, y + rad + 10, "#0b7285");
    });
  }

  function vetoed(canvas, grid, points, regions) {
    const ctx = canvas.getContext("2d"), a = Plots.area(canvas, grid);
    for (const r of regions) {  // [r0, c0, r1, c1] inclusive, with who vetoed it
      const x = a.x + r.box[1] * a.cell, y = a.y + r.box[0] * a.cell;
      const w = (r.box[3] - r.box[1] + 1) * a.cell, h = (r.box[2] - r.box[0] + 1) * a.cell;
      ctx.fillStyle = "rgba(224,49,49,0.18)"; ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = "#e03131"; ctx.lineWidth = 2; ctx.strokeRect(x, y, w, h);
      label(ctx, `vetoed by ${r.user}`, x + 2, y + 11, "#c92a2a");
    }
    canvas.dataset.regions = String(regions.length);
    const d = Math.max(3, a.cell * 0.4);
    for (const p of points) {
      const [x, y] = Plots.toPixel(canvas, grid, p[0], p[1]);
      for (const [color, width] of [["#fff", 3.5], ["#e03131", 1.8]]) {
        ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
        ctx.moveTo(x - d, y - d); ctx.lineTo(x + d, y + d); ctx.moveTo(x + d, y - d); ctx.lineTo(x - d, y + d); ctx.stroke();
      }
    }
  }

  function added(canvas, grid, points) {
    const ctx = canvas.getContext("2d"), a = Plots.area(canvas, grid), d = Math.max(4, a.cell * 0.5);
    for (const p of points) {
      const [x, y] = Plots.toPixel(canvas, grid, p.point[0], p.point[1]);
      ctx.strokeStyle = "#2b8a3e"; ctx.lineWidth = 2.5; ctx.beginPath();
      ctx.moveTo(x - d, y); ctx.lineTo(x + d, y); ctx.moveTo(x, y - d); ctx.lineTo(x, y + d); ctx.stroke();
      label(ctx, `added by ${p.user}`, x + d, y - 2, "#2b8a3e");
    }
  }

  // layers: {measured, next, vetoed, regions, added}; any may be missing.
  function draw(canvas, grid, layers) {
    vetoed(canvas, grid, layers.vetoed || [], layers.regions || []);
    added(canvas, grid, layers.added || []);
    if (layers.measured) path(canvas, grid, layers.measured);
    next(canvas, grid, layers.next || []);
  }

  return { draw };
})();
