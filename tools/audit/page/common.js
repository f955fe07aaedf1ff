// Shared by the audit pages: drawing a tensor summary (tools/audit/tensor_summary.h) — its
// statistics, a heatmap on a canvas and a histogram in SVG — and small helpers.
"use strict";
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
};
const fmt = (v) => (v === undefined || v === null ? "–" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
  ? Number(v).toExponential(3) : Number(v).toPrecision(4));
const shapeStr = (s) => "[" + (s || []).join(", ") + "]";
const bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

// A quantised cell (0..255, 127.5 = 0) as a diverging colour: blue negative, white 0, red positive.
function diverging(q) {
  const t = (q - 127.5) / 127.5, m = Math.round(255 * (1 - Math.abs(t)));
  return t < 0 ? [m, m, 255] : [255, m, m];
}

// The heatmap of a summary's "map", each cell `px` pixels (fitted to at most `width`).
function heatmapCanvas(map, width = 200, colour = diverging) {
  const px = Math.max(1, Math.floor(width / Math.max(map.cols, map.rows / 2)));
  const c = el("canvas", { width: map.cols * px, height: map.rows * px });
  const g = c.getContext("2d"), img = g.createImageData(map.cols, map.rows), q = bytesOf(map.q);
  q.forEach((v, i) => { const [r, gg, b] = colour(v); img.data.set([r, gg, b, 255], 4 * i); });
  const tmp = el("canvas", { width: map.cols, height: map.rows });
  tmp.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = false;
  g.drawImage(tmp, 0, 0, c.width, c.height);
  return c;
}

function histogramSvg(hist, width = 200, height = 48) {
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height + 14);
  const top = Math.max(...hist.counts, 1), w = width / hist.counts.length;
  hist.counts.forEach((n, i) => {
    const r = document.createElementNS(ns, "rect"), h = n ? Math.max(1, height * n / top) : 0;
    r.setAttribute("x", i * w); r.setAttribute("width", Math.max(w - 1, 1));
    r.setAttribute("y", height - h); r.setAttribute("height", h); r.setAttribute("fill", "#6d8fbf");
    svg.append(r);
  });
  for (const [x, anchor, v] of [[0, "start", hist.lo], [width, "end", hist.hi]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", height + 12); t.setAttribute("font-size", 10);
    t.setAttribute("text-anchor", anchor); t.textContent = fmt(v); svg.append(t);
  }
  return svg;
}

// A card for one tensor summary; `extra` nodes go under the title.
function tensorCard(title, s, ...extra) {
  if (!s) return el("div", { class: "card" }, el("div", { class: "title" }, title), el("div", { class: "muted" }, "none"));
  const card = el("div", { class: "card" }, el("div", { class: "title" }, title), ...extra,
    el("div", { class: "stats" }, `${s.dtype} ${shapeStr(s.shape)}`));
  if (s.min !== undefined) card.append(el("div", { class: "stats" },
    `min ${fmt(s.min)}  max ${fmt(s.max)}` + (s.rms !== undefined ? `  mean ${fmt(s.mean)}  rms ${fmt(s.rms)}` : "")));
  if (s.nan || s.inf) card.append(el("div", { class: "bad" }, `${s.nan} NaN, ${s.inf} Inf`));
  if (s.map) {
    card.append(heatmapCanvas(s.map));
    const notes = [`colour: ±${fmt(s.map.a)}`];
    if (s.map.of) notes.push(`shows ${s.map.of}`);
    if (s.map.every[0] > 1 || s.map.every[1] > 1) notes.push(`1 row in ${s.map.every[0]}, 1 column in ${s.map.every[1]} (downsampled)`);
    card.append(el("div", { class: "muted" }, notes.join("; ")));
  }
  if (s.hist) card.append(histogramSvg(s.hist));
  return card;
}
