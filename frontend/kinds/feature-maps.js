/** Feature maps: per probe image, every channel's activation map, as the contract normalizes it (atlas.js). */
import { colourGreyTile, displayRange, normalizationTable } from "../atlas.js";
import { formatNumber, formatPercent } from "../format.js";
import { defineKind } from "./kind.js";

const DEAD = Object.freeze({ text: "dead", why: "no activation on any probe" });

/** A channel is dead at a step when its maximum over all probes is <= 0 (never active). */
export function deadFlag(info, probe, position) {
  const peaks = info.stats.max.map((row) => row[position]).filter((value) => value !== null);
  return peaks.length && Math.max(...peaks) <= 0 ? DEAD : null;
}

export default defineKind("feature_maps", {
  label: "Feature maps",
  perProbe: true,
  looks: () => ({ norm: true, cmap: true }),
  drawTile: (atlas, info, probe, position, { norm, cmap }) => colourGreyTile(atlas, info, position, { table: normalizationTable(info, probe, position, norm), cmap }),
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
    { stat: "mean", label: "Mean activation" },
    { stat: "dead", label: "Dead fraction", format: formatPercent, range: [0, 1] },
  ],
  // Layer-wide normalization needs every tile's range at that step, which only the info holds.
  stripInfo: (look) => look.norm === "layer",
  frameTile: (image, layout, at, { info, probe, position, look }) =>
    colourGreyTile(image, layout, at, { table: normalizationTable(info, probe, position, info ? look.norm : "channel"), cmap: look.cmap }),
  flag: deadFlag,
  difference: true,
});
