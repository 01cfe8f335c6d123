/**
 * The explanatory graph (Zhang et al. 2018): part patterns of each filter, linked to the patterns of the
 * layer above they sit in; drawn by graph-view.js. readGraph checks a step's info (writer/kinds/
 * explanatory_graph.py's keys) and indexes it; a step whose info breaks it cannot be read, alone.
 */
import { formatNumber } from "../format.js";
import { defineKind } from "./kind.js";

/** The series the writer puts under the layers (the info's `channels`): charted per layer over steps. */
export const GRAPH_SERIES = [
  { stat: "patterns", label: "Part patterns" },
  { stat: "instability", label: "Mean location instability" },
];

export default defineKind("explanatory_graph", {
  label: "Explanatory graph",
  view: "graph",
  nouns: ["part pattern", "part patterns"],
  itemName: (info, id) => `part pattern ${id}`,
  series: GRAPH_SERIES,
});

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const isCount = (value) => Number.isInteger(value) && value >= 0;
const isPair = (value) => Array.isArray(value) && value.length === 2 && value.every((side) => Number.isInteger(side) && side > 0);

const hasDisplacement = (edge) => ["dx", "dy", "sx", "sy"].every((key) => isNumber(edge[key]));

function check(condition, what) {
  if (!condition) throw new Error(`This step's explanatory graph cannot be read: ${what}.`);
}

/**
 * The graph of an explanatory_graph info: { layers, nodes, byId, children (id -> [node]), atlases (layer ->
 * { picture, tile, grid }), positions, fields (layer -> [size, jump, offset]) }. Throws an Error
 * saying what is wrong when the info breaks the layout (a parent that is no node, an atlas row past its grid...).
 */
export function readGraph(info) {
  const { layers, nodes, atlases = [], positions = [] } = info;
  check(Array.isArray(layers) && layers.every((layer) => typeof layer === "string"), "its layers are not a list of names");
  check(Array.isArray(nodes), "it has no list of nodes");
  const byLayer = readAtlases(atlases, layers);
  const byId = readNodes(nodes, layers, byLayer);
  const children = readLinks(nodes, layers, byId);
  check(Array.isArray(positions) && positions.length === nodes.length, "it has not one list of positions per node");
  check(
    positions.every((row) => Array.isArray(row) && row.every((at) => at === null || (Array.isArray(at) && at.length === 3 && at.every(isNumber)))),
    "a position is not [x, y, score] or null",
  );
  return { layers, nodes, byId, children, atlases: byLayer, positions, fields: info.receptive_fields ?? {} };
}

function readAtlases(atlases, layers) {
  check(Array.isArray(atlases), "its atlases are not a list");
  const byLayer = new Map();
  for (const atlas of atlases) {
    check(layers.includes(atlas?.layer) && isCount(atlas.picture) && atlas.picture >= 1 && isPair(atlas.tile) && isPair(atlas.grid), "an atlas entry is malformed");
    byLayer.set(atlas.layer, atlas);
  }
  return byLayer;
}

function readNodes(nodes, layers, byLayer) {
  const byId = new Map();
  for (const node of nodes) {
    check(node && isCount(node.id) && !byId.has(node.id), "a node has no id of its own");
    check(layers.includes(node.layer) && isCount(node.channel), `node ${node.id} names no logged layer or channel`);
    const atlas = byLayer.get(node.layer);
    const fits = atlas && isCount(node.row) && node.row < atlas.grid[0] && isCount(node.patches) && node.patches <= atlas.grid[1];
    check(fits, `node ${node.id} has no row in its layer's atlas`);
    check(Array.isArray(node.parents) && isCount(node.support), `node ${node.id} has no list of parents or no support`);
    const peers = node.peers ?? []; // logs before the method kept peers have none
    check(Array.isArray(peers) && peers.every((peer) => isCount(peer?.channel) && hasDisplacement(peer)), `node ${node.id}'s peers are malformed`);
    byId.set(node.id, node);
  }
  return byId;
}

/** id -> the nodes linking to it; every link must reach a node of a layer above, with its displacement. */
function readLinks(nodes, layers, byId) {
  const children = new Map(nodes.map((node) => [node.id, []]));
  for (const node of nodes) {
    for (const edge of node.parents) {
      const parent = byId.get(edge?.parent);
      check(parent && layers.indexOf(parent.layer) < layers.indexOf(node.layer), `node ${node.id} links to ${edge?.parent}, no node of a layer above`);
      check(hasDisplacement(edge), `node ${node.id}'s link to ${edge.parent} has no displacement`);
      children.get(parent.id).push(node);
    }
  }
  return children;
}

/**
 * The id in graph `after` of the pattern that node `id` of graph `before` is: the same layer, channel and
 * rank among that channel's patterns (else its first one); null when the channel has none there. An id
 * `before` lacks is returned as is.
 */
export function samePattern(before, after, id) {
  const node = before.byId.get(id);
  if (!node) return id;
  const sameChannel = (graph) => graph.nodes.filter((other) => other.layer === node.layer && other.channel === node.channel);
  const candidates = sameChannel(after);
  return (candidates[sameChannel(before).indexOf(node)] ?? candidates[0])?.id ?? null;
}

/** "node 3 · conv4 channel 12": how a node is named in links and titles. */
export function nodeName(node) {
  return `node ${node.id} · ${node.layer} channel ${node.channel}`;
}

/** A link's geometry for people: "dx 4, dy −2 (spread 1.5 × 2)". */
export function linkText(edge) {
  return `dx ${formatNumber(edge.dx)}, dy ${formatNumber(edge.dy)} (spread ${formatNumber(edge.sx)} × ${formatNumber(edge.sy)})`;
}
