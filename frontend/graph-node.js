/**
 * One part pattern of the explanatory graph opened: its top patches (its row of the layer's served atlas),
 * where it is inferred on each probe image (a Gaussian marker over the probe's thumbnail, as strong as the
 * score, as wide as the layer's receptive field) and its links to parents and children.
 */
import { copyTile, paint } from "./atlas.js";
import { el } from "./dom.js";
import { formatNumber } from "./format.js";
import { linkText, nodeName } from "./kinds/explanatory-graph.js";

const MARKER = [229, 57, 53]; // the heat marker's colour (red)
const MARKER_ALPHA = 0.8; // its opacity at the peak of the strongest probe

export function createNodeDetails({ onNode }) {
  const title = el("h3", { className: "graph-node-title" });
  const facts = el("p", { className: "graph-node-facts muted" });
  const patches = el("div", { className: "graph-patches" });
  const heat = el("div", { className: "graph-heat" });
  const links = {
    parents: el("ul", { className: "graph-links graph-parents" }),
    children: el("ul", { className: "graph-links graph-children" }),
    peersTitle: el("h4", { text: "Peers (same layer): where this pattern sits relative to their channels' strongest peaks" }),
    peers: el("ul", { className: "graph-links graph-peers" }),
  };
  const element = el("aside", { className: "graph-node-details", hidden: true, "aria-label": "Selected part pattern" }, [
    title,
    facts,
    el("h4", { text: "Top patches" }),
    patches,
    el("h4", { text: "On the probe images" }),
    heat,
    el("h4", { text: "Parents (layer above): where this pattern sits relative to them" }),
    links.parents,
    links.peersTitle,
    links.peers,
    el("h4", { text: "Children (layer below): where they sit relative to this pattern" }),
    links.children,
  ]);

  function show({ graph, node, atlases, probes }) {
    element.hidden = false;
    element.dataset.node = String(node.id);
    title.textContent = nodeName(node);
    facts.textContent = `Location instability ${formatNumber(node.instability ?? NaN)} · inferred on ${node.support} held-out images · ${node.patches} top patches`;
    const atlas = graph.atlases.get(node.layer);
    const pixels = atlases.get(atlas.picture);
    patches.replaceChildren(
      ...Array.from({ length: node.patches }, (_, column) => {
        const canvas = el("canvas", { className: "graph-patch", width: 1, height: 1 });
        if (pixels) paint(canvas, copyTile(pixels, atlas, node.row * atlas.grid[1] + column));
        return canvas;
      }),
    );
    drawHeat(heat, graph, node, probes);
    drawLinks(links, graph, node, onNode);
  }

  function hide() {
    element.hidden = true;
    delete element.dataset.node;
  }

  return { element, show, hide };
}

/** The node's parents and children (each a button opening it) with their displacement, and a top node's peers. */
function drawLinks({ parents, children, peersTitle, peers }, graph, node, onNode) {
  const below = graph.children.get(node.id);
  parents.replaceChildren(...node.parents.map((edge) => linkItem(graph.byId.get(edge.parent), edge, onNode)));
  children.replaceChildren(
    ...below.map((child) =>
      linkItem(
        child,
        child.parents.find((edge) => edge.parent === node.id),
        onNode,
      ),
    ),
  );
  if (!node.parents.length) parents.replaceChildren(el("li", { className: "muted", text: "none: a pattern of the top layer" }));
  if (!below.length) children.replaceChildren(el("li", { className: "muted", text: "none" }));
  const peered = node.peers ?? [];
  peersTitle.hidden = peers.hidden = peered.length === 0;
  peers.replaceChildren(...peered.map((peer) => el("li", { "data-channel": peer.channel, text: `${node.layer} channel ${peer.channel}: ${linkText(peer)}` })));
}

function linkItem(other, edge, onNode) {
  return el("li", { "data-node": other.id }, [
    el("button", { type: "button", className: "link-button", text: nodeName(other), on: { click: () => onNode(other.id) } }),
    ` ${linkText(edge)}`,
  ]);
}

/** Each probe's thumbnail with the node's marker where it is inferred there, captioned with the score. */
function drawHeat(heat, graph, node, probes) {
  const located = graph.positions[graph.nodes.indexOf(node)] ?? [];
  const strongest = Math.max(0, ...located.map((at) => at?.[2] ?? 0));
  const size = graph.fields[node.layer]?.[0] ?? 0;
  heat.replaceChildren(
    ...probes.map((probe, index) => {
      const at = located[index] ?? null;
      const canvas = el("canvas", { className: "graph-heat-map", width: 1, height: 1, "data-probe": index });
      if (probe.image) paint(canvas, markedImage(probe.image, at, { strongest, size }));
      const caption = at ? `score ${formatNumber(at[2])} at (${formatNumber(at[0])}, ${formatNumber(at[1])})` : "not found";
      return el("figure", { className: "graph-heat-cell" }, [canvas, el("figcaption", { text: `${probe.label}: ${caption}` })]);
    }),
  );
}

/**
 * The probe's `image` (ImageData, logged at the size the model takes it) with a Gaussian marker at `at`
 * ([x, y, score], the probe's pixels), sigma a quarter of the layer's receptive field (at least one
 * pixel), opacity the score over the strongest probe's; the image unchanged where the node is not found.
 */
export function markedImage(image, at, { strongest, size }) {
  const marked = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
  if (!at || strongest <= 0 || at[2] <= 0) return marked;
  const [cx, cy] = at;
  const sigma = Math.max(1, size / 4);
  const peak = MARKER_ALPHA * Math.min(1, at[2] / strongest);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const alpha = peak * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma));
      const index = (y * image.width + x) * 4;
      for (let channel = 0; channel < 3; channel++) marked.data[index + channel] = (1 - alpha) * image.data[index + channel] + alpha * MARKER[channel];
      marked.data[index + 3] = 255;
    }
  }
  return marked;
}
