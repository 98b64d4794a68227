// Canvas drawing for the campaign page: images, heat maps, point overlays, line plots.
"use strict";
const Plots = (() => {
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  function viridis(t) {
    if (t === null || !isFinite(t)) return [200, 200, 200];
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    return VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
  }

  function range(rows) {
    let lo = Infinity, hi = -Infinity;
    for (const row of rows) for (const v of row) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    return lo <= hi ? [lo, hi] : [0, 1];
  }

  // Paint a 2-D array (rows of numbers, nulls allowed) stretched over the canvas.
  function paint(canvas, rows, color, extent) {
    const ctx = canvas.getContext("2d");
    const h = rows.length, w = h ? rows[0].length : 0;
    ctx.fillStyle = "#ddd"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!h || !w) return;
    const off = document.createElement("canvas");
    off.width = w; off.height = h;
    const octx = off.getContext("2d"), img = octx.createImageData(w, h);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
      const rgb = color(rows[r][c]), k = 4 * (r * w + c);
      img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    const e = extent || [canvas.width, canvas.height];
    ctx.drawImage(off, 0, 0, e[0], e[1]);
  }

  function gray(v) { const g = v === null ? 128 : Math.round(255 * v); return [g, g, g]; }

  function heat(canvas, rows, grid, stride) {
    const [lo, hi] = range(rows);
    const cell = [canvas.width / grid[1], canvas.height / grid[0]];
    paint(canvas, rows, v => viridis(v === null ? null : (v - lo) / (hi - lo || 1)),
          [rows[0].length * stride * cell[0], rows.length * stride * cell[1]]);
    return [lo, hi];
  }

  // Grid (row, col) -> canvas pixel centre, and back.
  function toPixel(canvas, grid, r, c) {
    return [(c + 0.5) * canvas.width / grid[1], (r + 0.5) * canvas.height / grid[0]];
  }
  function toCell(canvas, grid, event) {
    const rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * canvas.width / rect.width;
    const y = (event.clientY - rect.top) * canvas.height / rect.height;
    return [Math.min(grid[0] - 1, Math.max(0, Math.floor(y * grid[0] / canvas.height))),
            Math.min(grid[1] - 1, Math.max(0, Math.floor(x * grid[1] / canvas.width)))];
  }

  function overlay(canvas, grid, layers) {
    const ctx = canvas.getContext("2d");
    const cw = canvas.width / grid[1], ch = canvas.height / grid[0], rad = Math.max(2.5, Math.min(cw, ch) * 0.35);
    const measured = layers.measured || [];
    ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,140,0,0.55)"; ctx.beginPath();
    measured.forEach((m, i) => { const [x, y] = toPixel(canvas, grid, m.row, m.col); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
    measured.forEach((m, i) => {
      const [x, y] = toPixel(canvas, grid, m.row, m.col), t = measured.length > 1 ? i / (measured.length - 1) : 1;
      ctx.fillStyle = `rgb(255,${Math.round(220 - 150 * t)},${Math.round(60 - 60 * t)})`;
      ctx.beginPath(); ctx.arc(x, y, rad, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.strokeStyle = "#00e5ff"; ctx.lineWidth = 2; ctx.fillStyle = "#00e5ff"; ctx.font = "10px sans-serif";
    (layers.next || []).forEach((p, i) => {
      const [x, y] = toPixel(canvas, grid, p[0], p[1]);
      ctx.beginPath(); ctx.arc(x, y, rad + 2, 0, 2 * Math.PI); ctx.stroke();
      ctx.fillText(String(i + 1), x + rad + 2, y - rad);
    });
    (layers.vetoed || []).forEach(p => {
      const [x, y] = toPixel(canvas, grid, p[0], p[1]), d = Math.max(4, Math.min(cw, ch) * 0.6);
      for (const [color, width] of [["#fff", 4], ["#e00000", 2]]) {
        ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
        ctx.moveTo(x - d, y - d); ctx.lineTo(x + d, y + d); ctx.moveTo(x + d, y - d); ctx.lineTo(x - d, y + d); ctx.stroke();
      }
    });
  }

  // Line plot: series = [{x: [...], y: [...], color, dots}]
  function lines(canvas, series, labels) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 34;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    let xs = [], ys = [];
    for (const s of series) { xs = xs.concat(s.x); ys = ys.concat(s.y.filter(v => v !== null)); }
    if (!ys.length) { ctx.fillStyle = "#889"; ctx.fillText("no data yet", W / 2 - 25, H / 2); return; }
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = v => pad + (v - x0) / ((x1 - x0) || 1) * (W - pad - 8);
    const sy = v => H - pad + 8 - (v - y0) / ((y1 - y0) || 1) * (H - pad - 8);
    ctx.strokeStyle = "#99a"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(pad, 4); ctx.lineTo(pad, H - pad + 8); ctx.lineTo(W - 4, H - pad + 8); ctx.stroke();
    ctx.fillStyle = "#556"; ctx.font = "10px sans-serif";
    ctx.fillText(y1.toPrecision(3), 2, 12); ctx.fillText(y0.toPrecision(3), 2, H - pad + 8);
    ctx.fillText(String(x0), pad, H - pad + 20); ctx.fillText(String(x1), W - 30, H - pad + 20);
    if (labels) ctx.fillText(labels, pad + 40, H - 4);
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
      let started = false;
      s.x.forEach((x, i) => {
        if (s.y[i] === null) return;
        if (s.dots) { ctx.fillRect(sx(x) - 1.5, sy(s.y[i]) - 1.5, 3, 3); return; }
        started ? ctx.lineTo(sx(x), sy(s.y[i])) : ctx.moveTo(sx(x), sy(s.y[i])); started = true;
      });
      if (!s.dots) ctx.stroke();
    }
  }

  return { paint, gray, heat, overlay, toCell, toPixel, lines, viridis };
})();
