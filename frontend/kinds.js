/**
 * The kinds of view a layer can carry (the keys of a layer's `kinds` in the runs listing), and
 * everything the tab needs to know about each: the one place a new kind ("deconv") is added.
 *
 * A kind declares:
 *   label                       name in the View picker and titles
 *   perProbe                    one atlas per probe image, so the probe picker applies
 *   imageIndex(probe)           blob index of the atlas to fetch for the selected probe
 *   looks(info, atlas)          which look controls apply: { norm, cmap } booleans
 *   drawTile(atlas, info, probe, position, look)   ImageData of one channel's tile
 *   caption(info, position)     short text under a tile, or null; captionLabel says what it is
 *   details(info, probe, position)   [[name, text], ...] for the hover bar and the lightbox
 *   scale(info, probe, position, look)   [low, high] texts beside the colorbar, or null
 *   series                      per-channel statistics over steps (keys of a series' stats)
 *   deadPositions(info)         atlas positions of channels not active on any probe (flagged)
 *   difference                  whether two steps' tiles subtract meaningfully (compare view)
 */
import { colourGreyTile, copyTile, displayRange, isGrey, normalizationTable } from "./atlas.js";
import { formatNumber, formatPercent } from "./dom.js";

const featureMaps = {
  label: "Feature maps",
  perProbe: true,
  imageIndex: (probe) => probe + 1,
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
  deadPositions: (info) => deadPositions(info),
  difference: true,
};

const filters = {
  label: "Filter images",
  perProbe: false, // one picture per channel, optimized from noise: no probe involved
  imageIndex: () => 1,
  // Pictures are already in display space; a colormap only makes sense for grey ones.
  looks: (info, atlas) => ({ norm: false, cmap: isGrey(atlas) }),
  drawTile: (atlas, info, probe, position, { cmap }) =>
    isGrey(atlas) ? colourGreyTile(atlas, info, position, { cmap }) : copyTile(atlas, info, position),
  caption: (info, position) => formatNumber(info.activations[position]),
  captionLabel: "reached activation",
  details: (info, probe, position) => [["reached activation", formatNumber(info.activations[position])]],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [{ stat: "activation", label: "Reached activation", format: formatNumber }],
  deadPositions: () => new Set(),
  difference: false, // pictures optimized from noise: pixel differences say nothing
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

const KINDS = { feature_maps: featureMaps, filters };
const LABELS = { deconv: "Deconv" }; // known, not drawable by this version yet
const ORDER = ["feature_maps", "filters", "deconv"];

/** The kind's declaration, or null when this version cannot draw it. */
export function kindOf(name) {
  return Object.hasOwn(KINDS, name) ? KINDS[name] : null;
}

export function kindLabel(name) {
  return kindOf(name)?.label ?? LABELS[name] ?? name.replaceAll("_", " ");
}

/** The layer's kinds, known ones first in a fixed order, then the rest by name. */
export function layerKinds(layer) {
  const rank = (kind) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : ORDER.length);
  return Object.keys(layer.kinds).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
