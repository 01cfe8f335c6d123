/**
 * The Dynamics view's layer x step heat map: the whole model's change over training at a glance. One
 * cell per layer and logged step, coloured by how much the layer's representation of the probe images
 * changed since the previous log (1 - CKA), viridis from 0 to the largest change; light grey where a
 * layer has no value (its first log, a step that could not be read). The current step's column is
 * outlined. SVG with colours as attributes (class "chart"), so Export PNG draws it like the charts.
 */
import { lookupTable } from "./colormaps.js";
import { CHART_COLOURS } from "./charts.js";
import { formatNumber } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const LABEL_WIDTH = 140; // layer names, left of the rows
const ROW_HEIGHT = 22;
const MAX_WIDTH = 720; // of all cells together: many steps get narrow cells
const CELL_WIDTH = { min: 2, max: 64 };
const AXIS_HEIGHT = 16; // first and last step under the rows
const LEGEND = { height: 28, width: 160, steps: 32 };
export const NO_VALUE = "#e0e0e0";

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** The fill of a change `value` on a scale from 0 to `high`. */
export function heatColour(value, high) {
  if (value === null) return NO_VALUE;
  const lut = lookupTable("viridis");
  const index = Math.round(Math.min(1, Math.max(0, value / high)) * 255);
  return `rgb(${lut[index * 3]}, ${lut[index * 3 + 1]}, ${lut[index * 3 + 2]})`;
}

/**
 * The heat map of the route's `heat` ({ layers, steps, values: [per layer [per step]] }) with step
 * `current` outlined. Every cell says its layer, step and value (data-* and a tooltip).
 */
export function heatMap({ layers, steps, values, current = null }) {
  const known = values.flat().filter((value) => value !== null);
  const high = Math.max(Number.EPSILON, ...known);
  const cell = Math.max(CELL_WIDTH.min, Math.min(CELL_WIDTH.max, Math.floor(MAX_WIDTH / Math.max(1, steps.length))));
  const rowsHeight = layers.length * ROW_HEIGHT;
  const width = LABEL_WIDTH + steps.length * cell + 40;
  const height = rowsHeight + AXIS_HEIGHT + LEGEND.height;
  const label = `Change since the previous log (1 − CKA) of ${layers.length} layers over ${steps.length} steps; largest ${formatNumber(high)}`;
  const map = svg("svg", { class: "chart heat-map", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label });
  layers.forEach((layer, row) => {
    const y = row * ROW_HEIGHT;
    map.append(svg("text", { x: LABEL_WIDTH - 6, y: y + ROW_HEIGHT / 2 + 4, "font-size": 11, "text-anchor": "end", fill: CHART_COLOURS.text }, layer));
    steps.forEach((step, column) => {
      const value = values[row][column];
      const rect = svg("rect", { class: "heat-cell", x: LABEL_WIDTH + column * cell, y, width: cell, height: ROW_HEIGHT - 2, fill: heatColour(value, high) });
      rect.dataset.layer = layer;
      rect.dataset.step = String(step);
      rect.dataset.value = value === null ? "" : String(value);
      rect.append(svg("title", {}, `${layer}, step ${step}: ${value === null ? "no value" : formatNumber(value)}`));
      map.append(rect);
    });
  });
  const column = steps.indexOf(current);
  if (column >= 0) {
    const marker = svg("rect", {
      class: "heat-current",
      x: LABEL_WIDTH + column * cell - 1,
      y: -1,
      width: cell + 2,
      height: rowsHeight + 1,
      fill: "none",
      stroke: CHART_COLOURS.marker,
      "stroke-width": 2,
    });
    marker.dataset.step = String(current);
    map.append(marker);
  }
  if (steps.length) {
    const axisY = rowsHeight + 12;
    map.append(
      svg("text", { x: LABEL_WIDTH, y: axisY, "font-size": 10, fill: CHART_COLOURS.text }, `step ${steps[0]}`),
      svg("text", { x: LABEL_WIDTH + steps.length * cell, y: axisY, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, String(steps[steps.length - 1])),
    );
  }
  map.append(legend(rowsHeight + AXIS_HEIGHT, high));
  return map;
}

/** The colour scale from 0 to `high`, and the no-value swatch. */
function legend(top, high) {
  const group = svg("g", { class: "heat-legend" });
  const x0 = LABEL_WIDTH;
  const width = LEGEND.width / LEGEND.steps;
  for (let i = 0; i < LEGEND.steps; i++) {
    group.append(svg("rect", { x: x0 + i * width, y: top, width: width + 0.5, height: 8, fill: heatColour((i / (LEGEND.steps - 1)) * high, high) }));
  }
  const textY = top + 20;
  group.append(
    svg("text", { x: x0 - 6, y: top + 8, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, "1 − CKA"),
    svg("text", { x: x0, y: textY, "font-size": 10, fill: CHART_COLOURS.text }, "0"),
    svg("text", { x: x0 + LEGEND.width, y: textY, "font-size": 10, "text-anchor": "end", fill: CHART_COLOURS.text }, formatNumber(high)),
    svg("rect", { x: x0 + LEGEND.width + 16, y: top, width: 12, height: 8, fill: NO_VALUE }),
    svg("text", { x: x0 + LEGEND.width + 32, y: top + 8, "font-size": 10, fill: CHART_COLOURS.text }, "no value"),
  );
  return group;
}
