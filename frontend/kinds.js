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
 *
 * Kinds with `view: "top"` are not drawn as a channel grid but by top-patches.js; they declare
 * label, perProbe, stepsOf (the kind whose steps they are navigated by) and the blob indices
 * `patchesIndex` and `projectionsIndex`.
 */
import { colourGreyTile, copyTile, cropImage, displayRange, isGrey, normalizationTable } from "./atlas.js";
import { formatNumber, formatPercent } from "./dom.js";

const featureMaps = {
  label: "Feature maps",
  perProbe: true,
  imageIndex: (probe) => probe + 1,
  channels: (info) => info.channels,
  looks: () => ({ norm: true, cmap: true }),
  drawTile: (atlas, info, probe, position, { norm, cmap }) =>
    colourGreyTile(atlas, info, position, { table: normalizationTable(info, probe, position, norm), cmap }),
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

const filters = {
  label: "Filter images",
  perProbe: false, // one picture per channel, optimized from noise: no probe involved
  imageIndex: () => 1,
  channels: (info) => info.channels,
  // Pictures are already in display space; a colormap only makes sense for grey ones.
  looks: (info, atlas) => ({ norm: false, cmap: isGrey(atlas) }),
  drawTile: (atlas, info, probe, position, { cmap }) =>
    isGrey(atlas) ? colourGreyTile(atlas, info, position, { cmap }) : copyTile(atlas, info, position),
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

/** A channel is dead at a step when its maximum over all probes is <= 0 (never active). */
export function deadPositions(info) {
  const dead = new Set();
  info.channels.forEach((_, position) => {
    const peaks = info.stats.max.map((row) => row[position]).filter((value) => value !== null);
    if (peaks.length && Math.max(...peaks) <= 0) dead.add(position);
  });
  return dead;
}

const KINDS = { feature_maps: featureMaps, filters, deconv, deconv_top: deconvTop };
const ORDER = ["feature_maps", "filters", "deconv", "deconv_top"];

/** The kind's declaration, or null when this version cannot draw it. */
export function kindOf(name) {
  return Object.hasOwn(KINDS, name) ? KINDS[name] : null;
}

export function kindLabel(name) {
  return kindOf(name)?.label ?? name.replaceAll("_", " ");
}

/** The layer's kinds, known ones first in a fixed order, then the rest by name. */
export function layerKinds(layer) {
  const rank = (kind) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : ORDER.length);
  return Object.keys(layer.kinds).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
