// Line plots with labelled axes and a legend: the discovery curve and the spectra.
"use strict";
const Lines = (() => {
  const PAD = { left: 52, right: 10, top: 10, bottom: 36 };

  // series: [{x: [...], y: [...], color, dots, dash, label}]; opts: {xlabel, ylabel, hlines}
  // hlines: [{y, color, label}] drawn across the plot (e.g. the best of the seed points).
  function plot(canvas, series, opts) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    let xs = [], ys = [];
    for (const s of series) { xs = xs.concat(s.x); ys = ys.concat(s.y.filter(v => v !== null && isFinite(v))); }
    for (const h of opts.hlines || []) if (h.y !== null && isFinite(h.y)) ys.push(h.y);
    ctx.font = "10px sans-serif";
    if (!ys.length) { ctx.fillStyle = "#889"; ctx.textAlign = "center"; ctx.fillText("no data yet", W / 2, H / 2); canvas.dataset.axes = ""; return; }
    let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
    const pw = W - PAD.left - PAD.right, ph = H - PAD.top - PAD.bottom;
    const sx = v => PAD.left + (v - x0) / (x1 - x0) * pw, sy = v => PAD.top + ph - (v - y0) / (y1 - y0) * ph;
    ctx.strokeStyle = "#556"; ctx.lineWidth = 1; ctx.strokeRect(PAD.left, PAD.top, pw, ph);
    ctx.fillStyle = "#334"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of Plots.ticks(x0, x1, 5)) { ctx.fillRect(sx(t), PAD.top + ph, 1, 4); ctx.fillText(Plots.fmt(t), sx(t), PAD.top + ph + 5); }
    ctx.fillText(opts.xlabel || "", PAD.left + pw / 2, H - 13);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of Plots.ticks(y0, y1, 4)) { ctx.fillRect(PAD.left - 4, sy(t), 4, 1); ctx.fillText(Plots.fmt(t), PAD.left - 6, sy(t)); }
    ctx.save(); ctx.translate(10, PAD.top + ph / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText(opts.ylabel || "", 0, 0); ctx.restore();
    ctx.save(); ctx.beginPath(); ctx.rect(PAD.left, PAD.top, pw, ph); ctx.clip();
    for (const h of opts.hlines || []) {
      if (h.y === null || !isFinite(h.y)) continue;
      ctx.strokeStyle = h.color; ctx.setLineDash([5, 3]); ctx.beginPath();
      ctx.moveTo(PAD.left, sy(h.y)); ctx.lineTo(PAD.left + pw, sy(h.y)); ctx.stroke(); ctx.setLineDash([]);
    }
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.5; ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let started = false;
      s.x.forEach((x, i) => {
        const y = s.y[i];
        if (y === null || !isFinite(y)) return;
        if (s.dots) { ctx.fillRect(sx(x) - 1.5, sy(y) - 1.5, 3, 3); return; }
        started ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y)); started = true;
      });
      if (!s.dots) ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.restore();
    const named = series.concat(opts.hlines || []).filter(s => s.label);
    legend(ctx, named);
    canvas.dataset.axes = `${opts.xlabel} | ${opts.ylabel}`;
    canvas.dataset.legend = named.map(s => s.label).join(" | ");
  }

  function legend(ctx, items) {
    ctx.font = "10px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    let y = PAD.top + 8;
    for (const s of items) {
      const w = ctx.measureText(s.label).width + 26, x = ctx.canvas.width - PAD.right - w - 2;
      ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(x - 2, y - 6, w + 4, 12);
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2;
      ctx.setLineDash(s.dash || (s.y !== undefined && !Array.isArray(s.y) ? [5, 3] : []));
      if (s.dots) ctx.fillRect(x + 8, y - 1.5, 3, 3);
      else { ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 20, y); ctx.stroke(); }
      ctx.setLineDash([]); ctx.fillStyle = "#223"; ctx.fillText(s.label, x + 24, y);
      y += 13;
    }
  }

  return { plot };
})();
