// Small SVG charts without a library: bars (categories or a time series) and lines. Each chart has a
// text alternative (a <title> and a table the caller may show), so it is not only a picture.

import { h, svg } from "./dom.js";
import { formatNumber } from "./i18n.js";

const W = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 44 };

function scale(max) {
  const top = max > 0 ? max : 1;
  return (v) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / top);
}

function frame(title, children) {
  return svg(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, direction: "ltr" },
    svg("title", {}, title),
    svg("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }),
    children,
  );
}

function ticks(max, y) {
  return [0, 0.5, 1].map((f) =>
    svg("text", { x: PAD.left - 6, y: y(max * f) + 4, "text-anchor": "end" }, formatNumber(Math.round(max * f))),
  );
}

/** Bars: points = [{label, value, onclick?}]; a bar with onclick is a button (keyboard too). */
export function bars(title, points) {
  const max = Math.max(0, ...points.map((p) => p.value || 0));
  const y = scale(max);
  const step = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const every = Math.ceil(points.length / 12);
  return frame(title, [
    ticks(max, y),
    points.map((p, i) => {
      const x = PAD.left + i * step + step * 0.15;
      const rect = svg("rect", {
        class: "bar",
        x,
        y: y(p.value || 0),
        width: Math.max(step * 0.7, 1),
        height: H - PAD.bottom - y(p.value || 0),
      });
      const label = `${p.label}: ${formatNumber(p.value)}`;
      const group = svg("g", {}, svg("title", {}, label), rect);
      if (p.onclick) {
        group.setAttribute("role", "button");
        group.setAttribute("tabindex", "0");
        group.setAttribute("aria-label", label);
        group.addEventListener("click", p.onclick);
        group.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && p.onclick(e));
      }
      return [
        group,
        i % every === 0
          ? svg("text", { x: x + step * 0.35, y: H - 10, "text-anchor": "middle" }, p.label)
          : null,
      ];
    }),
  ]);
}

/** Lines: series = [{name, points: [{label, value}]}], all over the same labels. */
export function lines(title, series) {
  const all = series.flatMap((s) => s.points.map((p) => p.value || 0));
  const max = Math.max(0, ...all);
  const y = scale(max);
  const n = Math.max(...series.map((s) => s.points.length), 1);
  const x = (i) => PAD.left + ((W - PAD.left - PAD.right) * i) / Math.max(n - 1, 1);
  const labels = series[0]?.points || [];
  const every = Math.ceil(labels.length / 8);
  return frame(title, [
    ticks(max, y),
    series.map((s, k) =>
      svg("polyline", {
        class: `line series-${k}`,
        points: s.points.map((p, i) => `${x(i)},${y(p.value || 0)}`).join(" "),
      }),
    ),
    labels.map((p, i) =>
      i % every === 0 ? svg("text", { x: x(i), y: H - 10, "text-anchor": "middle" }, p.label) : null,
    ),
  ]);
}

/** The same data as a table (for screen readers and for a quick read of the exact figures). */
export function table(caption, header, rows) {
  return h(
    "table",
    { class: "chart-table" },
    h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, header.map((c, i) => h("th", { class: i ? "num" : null, scope: "col" }, c)))),
    h(
      "tbody",
      {},
      rows.map((r) => h("tr", {}, r.map((c, i) => (i ? h("td", { class: "num" }, c) : h("th", { scope: "row" }, c))))),
    ),
  );
}

/**
 * Bars around zero, for a figure that can be negative (net sentiment, NPS): points = [{label, value}];
 * a null value draws no bar. Values are drawn against ±max(|value|), positive up, negative down.
 */
export function signedBars(title, points) {
  const max = Math.max(1, ...points.map((p) => Math.abs(p.value || 0)));
  const top = PAD.top;
  const bottom = H - PAD.bottom;
  const zero = (top + bottom) / 2;
  const y = (v) => zero - ((bottom - top) / 2) * (v / max);
  const step = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const every = Math.ceil(points.length / 12);
  return svg(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, direction: "ltr" },
    svg("title", {}, title),
    svg("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: zero, y2: zero }),
    [max, 0, -max].map((v) =>
      svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatNumber(Math.round(v))),
    ),
    points.map((p, i) => {
      const x = PAD.left + i * step + step * 0.15;
      const value = p.value;
      const bar =
        value === null || value === undefined
          ? null
          : svg("rect", {
              class: value < 0 ? "bar negative" : "bar",
              x,
              y: Math.min(y(value), zero),
              width: Math.max(step * 0.7, 1),
              height: Math.max(Math.abs(y(value) - zero), 1),
            });
      return [
        svg("g", {}, svg("title", {}, `${p.label}: ${formatNumber(value)}`), bar),
        i % every === 0 ? svg("text", { x: x + step * 0.35, y: H - 10, "text-anchor": "middle" }, p.label) : null,
      ];
    }),
  );
}
