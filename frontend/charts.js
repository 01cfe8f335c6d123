/**
 * Small SVG line charts of a statistic over training steps, hand-written (no chart library):
 * y range with its two ends labelled, the first and last step under the x axis, a marker on the
 * step being shown, and the values as one polyline (gaps where a value is null).
 * Colours are SVG attributes, not CSS, so a chart drawn into an export canvas looks the same.
 */
import { formatNumber } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const SIZE = { width: 260, height: 72 };
const PAD = { left: 44, right: 8, top: 16, bottom: 16 };
export const CHART_COLOURS = { line: "#e65100", marker: "#1565c0", axis: "#9e9e9e", text: "#424242" };

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * A chart of `values` (numbers or null, one per step of `steps`) titled `label`, with `current`
 * (a step) marked; `range` fixes the y range (e.g. [0, 1] for fractions), `format` writes values.
 */
export function lineChart({ label, steps, values, current = null, range = null, format = formatNumber, width = SIZE.width }) {
  const known = values.filter((value) => value !== null && Number.isFinite(value));
  let [low, high] = range ?? [Math.min(...known), Math.max(...known)];
  if (!known.length) [low, high] = [0, 1];
  if (high === low) [low, high] = [low - 1, high + 1];
  const plot = { x0: PAD.left, x1: width - PAD.right, y0: SIZE.height - PAD.bottom, y1: PAD.top };
  const first = steps[0];
  const spanX = Math.max(1, steps[steps.length - 1] - first);
  const x = (step) => plot.x0 + ((step - first) / spanX) * (plot.x1 - plot.x0);
  const y = (value) => plot.y0 - ((value - low) / (high - low)) * (plot.y0 - plot.y1);

  const summary = known.length
    ? `${label}: ${format(values[0] ?? known[0])} at step ${first}, ${format(values[values.length - 1] ?? known[known.length - 1])} at step ${steps[steps.length - 1]}`
    : `${label}: no values`;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${SIZE.height}`, width, height: SIZE.height, role: "img", "aria-label": summary });
  chart.append(
    svg("text", { x: 0, y: 11, "font-size": 11, fill: CHART_COLOURS.text }, label),
    svg("line", { x1: plot.x0, y1: plot.y0, x2: plot.x1, y2: plot.y0, stroke: CHART_COLOURS.axis }),
    svg("line", { x1: plot.x0, y1: plot.y0, x2: plot.x0, y2: plot.y1, stroke: CHART_COLOURS.axis }),
    svg("text", { x: plot.x0 - 4, y: plot.y1 + 4, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, format(high)),
    svg("text", { x: plot.x0 - 4, y: plot.y0, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, format(low)),
    svg("text", { x: plot.x0, y: SIZE.height - 2, "font-size": 10, fill: CHART_COLOURS.text }, String(first)),
    svg("text", { x: plot.x1, y: SIZE.height - 2, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, String(steps[steps.length - 1])),
  );
  if (current !== null && steps.includes(current)) {
    chart.append(svg("line", { class: "chart-marker", x1: x(current), y1: plot.y0, x2: x(current), y2: plot.y1, stroke: CHART_COLOURS.marker, "stroke-dasharray": "3 2" }));
  }
  // One polyline per run of known values, so a missing value leaves a gap instead of a false line.
  let run = [];
  const flush = () => {
    if (run.length === 1) chart.append(svg("circle", { cx: run[0][0], cy: run[0][1], r: 1.5, fill: CHART_COLOURS.line }));
    if (run.length > 1) chart.append(svg("polyline", { points: run.map((point) => point.join(",")).join(" "), fill: "none", stroke: CHART_COLOURS.line, "stroke-width": 1.5 }));
    run = [];
  };
  values.forEach((value, index) => {
    if (value === null || !Number.isFinite(value)) return flush();
    run.push([x(steps[index]).toFixed(1), y(Math.min(high, Math.max(low, value))).toFixed(1)]);
  });
  flush();
  chart.dataset.values = JSON.stringify(values); // what is plotted, for tests and debugging
  return chart;
}
