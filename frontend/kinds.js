/**
 * The kinds of view a layer can carry (the keys of a layer's `kinds` in the runs listing), and
 * everything the tab needs to know about each: the one place a new kind is added.
 *
 * A kind declares:
 *   label                       name in the View picker and titles
 *   perProbe                    one atlas per probe image, so the probe picker applies
 *   imageIndex(probe)           blob index of the atlas to fetch for the selected probe
 *   channels(info, probe)       the channel index of each atlas position
 *   channelsVary                optional: the channels change from step to step
 *   looks(info, atlas)          which look controls apply: { norm, cmap } booleans
 *   drawTile(atlas, info, probe, position, look)   ImageData of one channel's tile
 *   drawPatch(probeImage, info, probe, position)   optional: ImageData of the probe image under the
 *                               tile (drawn beside it); probeImage is the decoded probe PNG
 *   box(info, probe, position)  optional: [top, left, bottom, right] drawn on the probe image
 *   caption(info, probe, position)   short text under a tile, or null; captionLabel says what it is
 *   note                        optional: how to read the tiles, in the grid's summary line
 *   details(info, probe, position)   [[name, text], ...] for the hover bar and the lightbox
 *   scale(info, probe, position, look)   [low, high] texts beside the colorbar, or null
 *   series                      per-channel statistics over steps (keys of a series' stats)
 *   absent(step)                why a channel has no tile at a step (filmstrip)
 *   stripInfo(look)             optional: whether the filmstrip needs each shown step's info to draw or
 *                               caption a tile (it otherwise draws from the strip or atlases and the series)
 *   frameTile(image, layout, at, { info, probe, position, look })   optional: ImageData of a filmstrip
 *                               frame: tile `at` of `image` (a strip or an atlas) laid out as `layout`
 *                               ({ tile, grid }); info (null unless stripInfo) and position are the
 *                               step's (default: drawTile(image, layout, probe, at, look))
 *   frameCaption({ info, probe, position, values })   optional: a frame's caption from the series'
 *                               `values` ({ <stat>: number }) of that step (default: caption(info, ...))
 *   deadPositions(info)         atlas positions of channels not active on any probe (flagged)
 *   difference                  whether two steps' tiles subtract meaningfully (compare view)
 *   panes(info)                 optional: how many pictures one tile holds side by side (default 1),
 *                               so the grid gives wide tiles room
 *   probesNote                  optional: why the probe picker does not apply (kinds not perProbe)
 *
 * Tiles are a layer's channels unless the kind names its items itself (see itemName below):
 *   nouns                       [singular, plural] of what a tile is ("probe", "probes")
 *   itemName(info, item)        the item `item` (a channel index of the info) for people
 *   tileLabel(info, item)       its short label on the tile
 *
 * Kinds with `view: "top"` are not drawn as a channel grid but by top-patches.js; they declare
 * label, perProbe, stepsOf (the kind whose steps they are navigated by) and the blob indices
 * `patchesIndex` and `projectionsIndex`.
 */
import { colourGreyTile, copyTile, cropImage, displayRange, isGrey, normalizationTable } from "./atlas.js";
import { formatNumber, formatPercent, formatShape } from "./dom.js";

const featureMaps = {
  label: "Feature maps",
  perProbe: true,
  imageIndex: (probe) => probe + 1,
  channels: (info) => info.channels,
  looks: () => ({ norm: true, cmap: true }),
  drawTile: (atlas, info, probe, position, { norm, cmap }) => colourGreyTile(atlas, info, position, { table: normalizationTable(info, probe, position, norm), cmap }),
  caption: () => null,
  captionLabel: null,
  details(info, probe, position) {
    const { mean, max, dead } = info.stats;
    const [lo, hi] = info.tile_range[probe][position];
    return [
      ["mean", formatNumber(mean[probe][position])],
      ["max", formatNumber(max[probe][position])],
      ["dead", formatPercent(dead[probe][position])],
      ["range", `${formatNumber(lo)} … ${formatNumber(hi)}`],
    ];
  },
  scale(info, probe, position, { norm }) {
    if (position === null && norm !== "layer") return ["min", "max"]; // each tile its own range
    return displayRange(info, probe, position ?? 0, norm).map(formatNumber);
  },
  series: [
    { stat: "mean", label: "Mean activation", format: formatNumber },
    { stat: "dead", label: "Dead fraction", format: formatPercent, range: [0, 1] },
  ],
  absent: (step) => `channel not logged at step ${step}`,
  // Layer-wide normalization needs every tile's range at that step, which only the info holds.
  stripInfo: (look) => look.norm === "layer",
  frameTile: (image, layout, at, { info, probe, position, look }) =>
    colourGreyTile(image, layout, at, { table: normalizationTable(info, probe, position, info ? look.norm : "channel"), cmap: look.cmap }),
  deadPositions: (info) => deadPositions(info),
  difference: true,
};

/** Pictures optimized from noise, already in display space: a colormap only makes sense for grey ones. */
const pictures = {
  looks: (info, atlas) => ({ norm: false, cmap: isGrey(atlas) }),
  drawTile: (atlas, info, probe, position, { cmap }) => (isGrey(atlas) ? colourGreyTile(atlas, info, position, { cmap }) : copyTile(atlas, info, position)),
};

const filters = {
  ...pictures,
  label: "Filter images",
  perProbe: false, // one picture per channel, optimized from noise: no probe involved
  imageIndex: () => 1,
  channels: (info) => info.channels,
  caption: (info, probe, position) => formatNumber(info.activations[position]),
  captionLabel: "reached activation",
  details: (info, probe, position) => [["reached activation", formatNumber(info.activations[position])]],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [{ stat: "activation", label: "Reached activation", format: formatNumber }],
  absent: (step) => `channel not logged at step ${step}`,
  stripInfo: () => false,
  frameCaption: ({ values }) => (values.activation == null ? null : formatNumber(values.activation)),
  deadPositions: () => new Set(),
  difference: false, // pictures optimized from noise: pixel differences say nothing
};

/**
 * Deconvnet projections: per probe, the channels it excites most at this step (so channels differ
 * per probe and per step), each projection cropped to its unit's receptive field and shown beside
 * the probe image's patch under that field.
 */
const deconv = {
  label: "Deconvnet",
  perProbe: true,
  imageIndex: (probe) => probe + 1,
  channels: (info, probe) => info.channels[probe],
  channelsVary: true, // a channel missing at a step is expected, not a reason to forget it
  // Signed pictures, each scaled by its own largest |value|: no normalization or colormap to choose.
  looks: () => ({ norm: false, cmap: false }),
  drawTile: (atlas, info, probe, position) => copyTile(atlas, info, position),
  drawPatch: (probeImage, info, probe, position) => cropImage(probeImage, info.patch_starts[probe][position], info.tile),
  box: (info, probe, position) => info.boxes[probe][position],
  caption: (info, probe, position) => formatNumber(info.activations[probe][position]),
  captionLabel: "strongest activation",
  note: "each tile: input patch | its projection (grey = 0)",
  details(info, probe, position) {
    const [top, left, bottom, right] = info.boxes[probe][position];
    return [
      ["activation", formatNumber(info.activations[probe][position])],
      ["receptive field", `rows ${top}–${bottom - 1}, columns ${left}–${right - 1}`],
      ["rule", info.rule],
    ];
  },
  scale: () => null,
  series: [], // the series route has no per-probe numbers for this kind yet
  absent: (step) => `not among this probe's strongest at step ${step}`,
  stripInfo: () => true, // captions: each step's activation of the channel on this probe (not in the series)
  deadPositions: () => new Set(), // dead channels are judged on feature maps
  difference: false, // different channels and patches per step: nothing to subtract
};

/** Zeiler & Fergus figure 2: per channel, the dataset's k strongest patches and their projections. */
const deconvTop = {
  label: "Top 9 of dataset",
  perProbe: false,
  view: "top",
  stepsOf: "deconv", // logged only every few steps: navigate the layer's steps, show the latest at or before
  patchesIndex: 1,
  projectionsIndex: 2,
};

/**
 * What the model-level kinds share: one atlas (blob 1) holding every probe or class at once, so the
 * probe picker has no say, drawn as logged.
 */
const modelKind = {
  perProbe: false,
  imageIndex: () => 1,
  channels: (info) => info.channels,
  looks: () => ({ norm: false, cmap: false }),
  drawTile: (atlas, info, probe, position) => copyTile(atlas, info, position),
  scale: () => null,
  absent: (step) => `not logged at step ${step}`,
  deadPositions: () => new Set(),
  difference: false, // pictures of different predictions: pixel differences say nothing
};

/** Tiles of one probe image each (item = probe index), named by the probe's label. */
const probeItems = {
  nouns: ["probe", "probes"],
  itemName: (info, probe) => [`Probe ${probe + 1}`, info.labels?.[probe]].filter(Boolean).join(": "),
  tileLabel: (info, probe) => info.labels?.[probe] ?? `Probe ${probe + 1}`,
  probesNote: "Every probe image has its own tile.",
};

/** The model's name of output `index` ("class 7" when the log names none). */
function className(info, index) {
  return info.class_names?.[index] ?? `class ${index}`;
}

const predicted = (info, position) => `${className(info, info.predicted[position])} ${formatPercent(info.probabilities[position])}`;

/** Simonyan et al.: where the input's pixels most change the predicted class's score. */
const saliency = {
  ...modelKind,
  ...probeItems,
  label: "Saliency",
  note: "each tile: the probe image with its gradient magnitude in jet colours (red = most important)",
  caption: (info, probe, position) => predicted(info, position),
  captionLabel: "predicted class and its probability",
  details: (info, probe, position) => [
    ["predicted", className(info, info.predicted[position])],
    ["probability", formatPercent(info.probabilities[position])],
  ],
  series: [{ stat: "probability", label: "Probability of the predicted class", format: formatPercent, range: [0, 1] }],
  stripInfo: () => true, // captions: the class each step predicts (the series holds only its probability)
};

/** Grad-CAM: the same question answered at a late conv layer's resolution. */
const gradCam = {
  ...saliency,
  label: "Grad-CAM",
  note: "each tile: the probe image with the class activation map of one layer in jet colours (red = most important)",
  details: (info, probe, position) => [...saliency.details(info, probe, position), ["layer", `${info.layer} (${formatShape(info.layer_size)})`]],
};

/** Per class, the image that maximizes its score (item = class index). */
const classImages = {
  ...modelKind,
  ...pictures,
  label: "Class images",
  nouns: ["class", "classes"],
  itemName: (info, index) => [`Class ${index}`, info.class_names?.[index]].filter(Boolean).join(": "),
  tileLabel: (info, index) => className(info, index),
  caption: (info, probe, position) => formatPercent(info.probabilities[position]),
  captionLabel: "probability of its class",
  details: (info, probe, position) => [
    ["score", formatNumber(info.scores[position])],
    ["probability", formatPercent(info.probabilities[position])],
    ["optimization steps", String(info.steps)],
    ["L2 penalty", formatNumber(info.l2)],
  ],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [
    { stat: "probability", label: "Probability", format: formatPercent, range: [0, 1] },
    { stat: "score", label: "Score", format: formatNumber },
  ],
  stripInfo: () => false,
  frameCaption: ({ values }) => (values.probability == null ? null : formatPercent(values.probability)),
};

const stepCount = (count) => `${count} step${count === 1 ? "" : "s"}`;

/** Per probe, the smallest change that makes the model predict a target class: original | changed | difference. */
const fooling = {
  ...modelKind,
  ...probeItems,
  label: "Fooling images",
  panes: (info) => info.panes.length,
  note: "each tile: original | changed | difference (grey = no change, magnified)",
  caption(info, probe, position) {
    const target = `${className(info, info.targets[position])} ${formatPercent(info.target_probabilities[position])}`;
    if (!info.succeeded[position]) return `not fooled · ${target}`;
    // Targets are fixed at the first log; a later model may already predict one unchanged.
    return info.steps[position] === 0 ? `already ${target}` : `→ ${target} · ${stepCount(info.steps[position])}`;
  },
  captionLabel: "target class and its probability on the changed image",
  details: (info, probe, position) => [
    ["original", `${className(info, info.original_classes[position])} ${formatPercent(info.original_probabilities[position])}`],
    ["target", className(info, info.targets[position])],
    ["target probability", formatPercent(info.target_probabilities[position])],
    ["steps", `${info.steps[position]} of ${info.max_steps}`],
    ["largest pixel change", formatNumber(info.max_change[position])],
    ["magnification", `×${formatNumber(info.magnification[position])}`],
  ],
  series: [
    { stat: "target_probability", label: "Probability of the target class", format: formatPercent, range: [0, 1] },
    { stat: "steps", label: "Steps", format: formatNumber },
  ],
  stripInfo: () => true, // captions: whether each step's model was fooled (not in the series)
};

/** A channel is dead at a step when its maximum over all probes is <= 0 (never active). */
export function deadPositions(info) {
  const dead = new Set();
  info.channels.forEach((_, position) => {
    const peaks = info.stats.max.map((row) => row[position]).filter((value) => value !== null);
    if (peaks.length && Math.max(...peaks) <= 0) dead.add(position);
  });
  return dead;
}

const KINDS = {
  feature_maps: featureMaps,
  filters,
  deconv,
  deconv_top: deconvTop,
  saliency,
  grad_cam: gradCam,
  class_visualization: classImages,
  fooling,
};
const ORDER = Object.keys(KINDS);

/** The kind's declaration, or null when this version cannot draw it. */
export function kindOf(name) {
  return Object.hasOwn(KINDS, name) ? KINDS[name] : null;
}

export function kindLabel(name) {
  return kindOf(name)?.label ?? name.replaceAll("_", " ");
}

/** Kind `kind`'s tile `item` (a channel index of `info`) for people: "channel 5", "Probe 2: Sneaker". */
export function itemName(kind, info, item) {
  return kind.itemName?.(info, item) ?? `channel ${item}`;
}

/** The same, to start a label with: "Channel 5". */
export function itemLabel(kind, info, item) {
  const name = itemName(kind, info, item);
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The short label on the tile: "5", "Sneaker". */
export function tileLabel(kind, info, item) {
  return kind.tileLabel?.(info, item) ?? String(item);
}

/** [singular, plural] of what the kind's tiles are: ["channel", "channels"], ["class", "classes"]. */
export function itemNouns(kind) {
  return kind.nouns ?? ["channel", "channels"];
}

/** "16 channels", "1 probe". */
export function countItems(kind, count) {
  const [one, many] = itemNouns(kind);
  return `${count} ${count === 1 ? one : many}`;
}

/** The kinds of a layer or of the model entry (scopes.js), known ones first in a fixed order, then the rest by name. */
export function layerKinds(layer) {
  const rank = (kind) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : ORDER.length);
  return Object.keys(layer.kinds).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
