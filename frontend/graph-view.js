/**
 * The explanatory graph of one step, layer by layer, top layer first: each part pattern a small
 * thumbnail (its top patch, cropped from its layer's served atlas), an SVG line to each parent in the
 * layer above; a click on a node opens its details (graph-node.js). Under it, per layer, the number of
 * part patterns and their mean location instability over steps (the series route). One of the views
 * app.js shows and hides ({ element, show(view), hide(), setBusy(busy) }).
 */
import { copyTile, paint } from "./atlas.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { formatNumber } from "./format.js";
import { createNodeDetails } from "./graph-node.js";
import { nodeName } from "./kinds/explanatory-graph.js";

const SVG = "http://www.w3.org/2000/svg";
const PITCH = 52; // pixels from one node's left to the next one's
const THUMB = 44; // a node's drawn size
const ROW = 104; // pixels from one layer's row to the next
const LABEL = 22; // the layer's name above its row

export function createGraphView({ onNode }) {
  const note = el("p", { className: "graph-note muted" });
  const edges = document.createElementNS(SVG, "svg");
  edges.setAttribute("class", "graph-edges");
  const nodes = el("div", { className: "graph-nodes" });
  const board = el("div", { className: "graph-board", role: "group", "aria-label": "Part patterns, top layer first" }, [edges, nodes]);
  const details = createNodeDetails({ onNode });
  const charts = el("div", { className: "graph-charts" });
  const element = el("section", { className: "graph-view", hidden: true, "aria-label": "Explanatory graph" }, [
    note,
    el("div", { className: "graph-scroll" }, [board]),
    details.element,
    el("h3", { text: "Per layer over training" }),
    charts,
  ]);

  /**
   * Draw `graph` (readGraph's) of `step` with its decoded atlases (picture index -> ImageData), `probes`
   * ([{ label, image }]) and node `selected` (an id, or null); `failure`: why the step cannot be read
   * instead (nothing drawn but the charts). `series`: the series route's answer, or null.
   */
  function show({ graph, atlases, probes, selected, step, failure, series, source }) {
    element.hidden = false;
    element.dataset.step = String(step);
    element.dataset.source = source;
    drawCharts(charts, series, step);
    if (failure) {
      note.textContent = failure;
      element.classList.add("unreadable");
      nodes.replaceChildren();
      edges.replaceChildren();
      details.hide();
      return null;
    }
    element.classList.remove("unreadable");
    note.textContent = summary(graph);
    const placed = place(graph);
    drawBoard({ board, nodes, edges }, graph, placed, atlases, onNode);
    const node = graph.byId.get(selected) ?? null;
    for (const button of nodes.querySelectorAll(".graph-node")) button.setAttribute("aria-pressed", String(Number(button.dataset.node) === node?.id));
    for (const line of edges.children) line.classList.toggle("selected", node !== null && [line.dataset.child, line.dataset.parent].includes(String(node.id)));
    if (node) details.show({ graph, node, atlases, probes });
    else details.hide();
    return node?.id ?? null;
  }

  function hide() {
    element.hidden = true;
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  return { element, show, hide, setBusy };
}

function summary(graph) {
  const perLayer = graph.layers.map((layer) => `${layer}: ${graph.nodes.filter((node) => node.layer === layer).length}`);
  return `${graph.nodes.length} part patterns drawn (${perLayer.join(", ")}); lines link a pattern to the patterns of the layer above it sits in. Click one for its patches, its place on the probe images and its links.`;
}

/**
 * Each node's centre { x, y } on the board: rows top layer first, each centred on the widest; below the top,
 * ordered by their parents' mean x, so links cross less.
 */
export function place(graph) {
  const placed = new Map();
  const widest = widestRow(graph);
  graph.layers.forEach((layer, row) => {
    const members = graph.nodes.filter((node) => node.layer === layer);
    const indent = ((widest - members.length) * PITCH) / 2;
    const anchor = (node) => {
      const xs = node.parents.map((edge) => placed.get(edge.parent)?.x).filter((x) => x !== undefined);
      return xs.length ? xs.reduce((sum, x) => sum + x, 0) / xs.length : Infinity;
    };
    const order = row === 0 ? members : [...members].sort((a, b) => anchor(a) - anchor(b));
    order.forEach((node, index) => placed.set(node.id, { x: indent + index * PITCH + PITCH / 2, y: row * ROW + LABEL + THUMB / 2, row }));
  });
  return placed;
}

function widestRow(graph) {
  return Math.max(1, ...graph.layers.map((layer) => graph.nodes.filter((node) => node.layer === layer).length));
}

function drawBoard({ board, nodes, edges }, graph, placed, atlases, onNode) {
  const width = widestRow(graph) * PITCH;
  const height = graph.layers.length * ROW;
  board.style.width = `${width}px`;
  board.style.height = `${height}px`;
  edges.setAttribute("width", width);
  edges.setAttribute("height", height);
  edges.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const labels = graph.layers.map((layer, row) => positioned(el("span", { className: "graph-layer", text: layer }), 0, row * ROW));
  nodes.replaceChildren(...labels, ...graph.nodes.map((node) => nodeButton(graph, node, placed.get(node.id), atlases, onNode)));
  const lines = [];
  for (const node of graph.nodes) {
    const child = placed.get(node.id);
    for (const edge of node.parents) {
      const parent = placed.get(edge.parent);
      const line = document.createElementNS(SVG, "line");
      const attributes = { x1: child.x, y1: child.y - THUMB / 2, x2: parent.x, y2: parent.y + THUMB / 2, stroke: "#78909c", "stroke-width": 1.5 };
      for (const [key, value] of Object.entries(attributes)) line.setAttribute(key, String(value));
      line.setAttribute("class", "graph-edge");
      line.dataset.child = String(node.id);
      line.dataset.parent = String(edge.parent);
      lines.push(line);
    }
  }
  edges.replaceChildren(...lines);
}

function nodeButton(graph, node, at, atlases, onNode) {
  const atlas = graph.atlases.get(node.layer);
  const canvas = el("canvas", { className: "graph-thumb", width: 1, height: 1 });
  const pixels = atlases.get(atlas.picture);
  if (pixels && node.patches > 0) paint(canvas, copyTile(pixels, atlas, node.row * atlas.grid[1]));
  const title = `${nodeName(node)} · instability ${formatNumber(node.instability ?? NaN)} · on ${node.support} images`;
  const button = el("button", { type: "button", className: "graph-node", "data-node": node.id, title, "aria-label": nodeName(node), on: { click: () => onNode(node.id) } }, [
    canvas,
  ]);
  return positioned(button, at.x - THUMB / 2, at.y - THUMB / 2);
}

/** `node` placed at (`left`, `top`) on the board (through the CSSOM: a style attribute would break the tab's CSP). */
function positioned(node, left, top) {
  node.style.left = `${left}px`;
  node.style.top = `${top}px`;
  return node;
}

/** Per layer of the series, its number of part patterns and mean instability over steps, `step` marked. */
function drawCharts(charts, series, step) {
  if (!series?.steps.length) {
    charts.replaceChildren(el("p", { className: "muted", text: "No readable step to chart yet." }));
    return;
  }
  const { steps, channels, stats } = series;
  const column = (name, index) => (stats[name] ?? []).map((row) => row[index] ?? null);
  charts.replaceChildren(
    ...channels.map((layer, index) =>
      el("div", { className: "graph-chart-row", "data-layer": layer }, [
        el("span", { className: "layer-name", text: layer }),
        lineChart({ label: "Part patterns", steps, values: column("patterns", index), current: step }),
        lineChart({ label: "Mean location instability", steps, values: column("instability", index), current: step }),
      ]),
    ),
  );
}
