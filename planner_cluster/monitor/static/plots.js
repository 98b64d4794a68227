// Maps on canvases: a plot area on the grid, axes in grid points (or the calibration's units),
// and a colour bar with the value's units. Overlays and line plots live in overlays.js, lines.js.
"use strict";
const Plots = (() => {
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const MARGIN = { left: 46, top: 8, bar: 64, bottom: 40 };

  function viridis(t) {
    if (t === null || !isFinite(t)) return [200, 200, 200];
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    return VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
  }
  function gray(t) { const g = t === null || !isFinite(t) ? 128 : Math.round(255 * Math.min(1, Math.max(0, t))); return [g, g, g]; }

  // The colour range: the 1st to 99th percentile, so that one outlier (a bad fit) does not
  // turn the rest of the map one colour; values beyond are drawn at the ends of the bar.
  function range(rows) {
    const all = [];
    for (const row of rows) for (const v of row) if (v !== null && isFinite(v)) all.push(v);
    if (!all.length) return [0, 1];
    all.sort((a, b) => a - b);
    const at = q => all[Math.min(all.length - 1, Math.max(0, Math.round(q * (all.length - 1))))];
    return at(0.01) < at(0.99) ? [at(0.01), at(0.99)] : [all[0], all[all.length - 1]];
  }

  // The plot area of a map canvas: the grid's aspect ratio, fitted inside the margins.
  function area(canvas, grid) {
    const W = canvas.width - MARGIN.left - MARGIN.bar, H = canvas.height - MARGIN.top - MARGIN.bottom;
    const cell = Math.min(W / grid[1], H / grid[0]);
    return { x: MARGIN.left, y: MARGIN.top, w: cell * grid[1], h: cell * grid[0], cell };
  }

  // Grid (row, col) -> canvas pixel centre, and a mouse event -> (row, col).
  function toPixel(canvas, grid, r, c) {
    const a = area(canvas, grid);
    return [a.x + (c + 0.5) * a.cell, a.y + (r + 0.5) * a.cell];
  }
  function toCell(canvas, grid, event) {
    const rect = canvas.getBoundingClientRect(), a = area(canvas, grid);
    const x = (event.clientX - rect.left) * canvas.width / rect.width - a.x;
    const y = (event.clientY - rect.top) * canvas.height / rect.height - a.y;
    if (x < 0 || y < 0 || x >= a.w || y >= a.h) return null;
    return [Math.min(grid[0] - 1, Math.floor(y / a.cell)), Math.min(grid[1] - 1, Math.floor(x / a.cell))];
  }
  // Where (row, col) sits relative to the canvas's centre, in CSS pixels (tests click there).
  function cellOffset(canvas, grid, r, c) {
    const rect = canvas.getBoundingClientRect(), [x, y] = toPixel(canvas, grid, r, c);
    return [x * rect.width / canvas.width - rect.width / 2, y * rect.height / canvas.height - rect.height / 2];
  }

  function clear(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    return ctx;
  }

  // Paint rows (numbers, nulls allowed) of values already scaled to 0..1 over `cells`
  // grid cells each (stride), clipped to the plot area.
  function paintCells(canvas, grid, rows, color, cellsPerValue) {
    const ctx = canvas.getContext("2d"), a = area(canvas, grid);
    ctx.fillStyle = "#ddd"; ctx.fillRect(a.x, a.y, a.w, a.h);
    const h = rows.length, w = h ? rows[0].length : 0;
    if (!h || !w) return;
    const off = document.createElement("canvas");
    off.width = w; off.height = h;
    const octx = off.getContext("2d"), img = octx.createImageData(w, h);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
      const rgb = color(rows[r][c]), k = 4 * (r * w + c);
      img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    ctx.save(); ctx.beginPath(); ctx.rect(a.x, a.y, a.w, a.h); ctx.clip();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, a.x, a.y, w * cellsPerValue[1] * a.cell, h * cellsPerValue[0] * a.cell);
    ctx.restore();
  }

  function ticks(lo, hi, n) {
    const span = hi - lo || 1, step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(10));
    return out;
  }
  function fmt(v) { return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(3)); }

  // Axes of the grid: column (x) and row (y) in `units.grid_units`, `grid_step` per grid point.
  function axes(canvas, grid, units) {
    const ctx = canvas.getContext("2d"), a = area(canvas, grid), step = units ? units.grid_step : 1;
    const unit = units ? units.grid_units : "grid points";
    ctx.strokeStyle = "#556"; ctx.lineWidth = 1; ctx.strokeRect(a.x, a.y, a.w, a.h);
    ctx.fillStyle = "#334"; ctx.font = "10px sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of ticks(0, (grid[1] - 1) * step, 5)) {
      const x = a.x + (t / step + 0.5) * a.cell;
      ctx.fillRect(x, a.y + a.h, 1, 4); ctx.fillText(fmt(t), x, a.y + a.h + 5);
    }
    ctx.fillText(`x (${unit})`, a.x + a.w / 2, a.y + a.h + 20);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of ticks(0, (grid[0] - 1) * step, 5)) {
      const y = a.y + (t / step + 0.5) * a.cell;
      ctx.fillRect(a.x - 4, y, 4, 1); ctx.fillText(fmt(t), a.x - 6, y);
    }
    ctx.save(); ctx.translate(10, a.y + a.h / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText(`y (${unit})`, 0, 0); ctx.restore();
    canvas.dataset.axes = `x (${unit}), y (${unit})`;  // what was drawn, for tests and readers
  }

  // A vertical colour bar right of the plot area: lo at the bottom, hi at the top, labelled.
  function colorbar(canvas, grid, color, lo, hi, label) {
    const ctx = canvas.getContext("2d"), a = area(canvas, grid), x = a.x + a.w + 10, w = 12;
    for (let i = 0; i < a.h; i++) {
      const rgb = color(1 - i / Math.max(1, a.h - 1));
      ctx.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`; ctx.fillRect(x, a.y + i, w, 1);
    }
    ctx.strokeStyle = "#556"; ctx.strokeRect(x, a.y, w, a.h);
    ctx.fillStyle = "#334"; ctx.font = "10px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    for (const t of ticks(lo, hi, 4)) {
      const y = a.y + a.h * (1 - (t - lo) / ((hi - lo) || 1));
      ctx.fillRect(x + w, y, 3, 1); ctx.fillText(fmt(t), x + w + 4, y);
    }
    ctx.save(); ctx.translate(canvas.width - 6, a.y + a.h / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText(label, 0, 0); ctx.restore();
    canvas.dataset.colorbar = `${label}: ${fmt(lo)} to ${fmt(hi)}`;
  }

  // A whole map: values on the grid (`stride` grid points per value), axes and colour bar.
  // `fixed` ([lo, hi]) holds the colour scale; returns the scale used.
  function map(canvas, grid, rows, opts) {
    clear(canvas);
    const [lo, hi] = opts.fixed || (rows.length ? range(rows) : [0, 1]);
    const color = opts.color || viridis;
    paintCells(canvas, grid, rows, v => color(v === null ? null : (v - lo) / ((hi - lo) || 1)),
               [opts.stride || 1, opts.stride || 1]);
    axes(canvas, grid, opts.units);
    colorbar(canvas, grid, color, lo, hi, opts.label);
    return [lo, hi];
  }

  // The structural image (its own pixels, 0..1) stretched over the grid's extent.
  function image(canvas, grid, rows, units, label) {
    clear(canvas);
    const h = rows.length, w = h ? rows[0].length : 1;
    paintCells(canvas, grid, rows, gray, [grid[0] / Math.max(1, h), grid[1] / w]);
    axes(canvas, grid, units);
    colorbar(canvas, grid, gray, 0, 1, label);
  }

  return { area, toPixel, toCell, cellOffset, map, image, viridis, gray, ticks, fmt };
})();
