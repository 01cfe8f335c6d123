/**
 * Deconvnet projections: per probe, the channels it excites most at this step (so channels differ
 * per probe and per step), each projection cropped to its unit's receptive field and shown beside
 * the probe image's patch under that field.
 */
import { copyTile, cropImage } from "../atlas.js";
import { formatNumber } from "../format.js";
import { defineKind } from "./kind.js";

/** Why a projection is flagged: its unit was not firing, so the picture shows what would drive it up. */
export const INACTIVE = Object.freeze({ text: "inactive", why: "strongest value not positive: projected from a positive seed" });

export default defineKind("deconv", {
  label: "Deconvnet",
  perProbe: true,
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
  absent: (step) => `not among this probe's strongest at step ${step}`,
  stripInfo: () => true, // captions: each step's activation of the channel on this probe (not in the series)
  // Logs before the rule carry no `inactive`: nothing to flag.
  flag: (info, probe, position) => (info.inactive?.[probe]?.[position] ? INACTIVE : null),
  // Dead channels are judged on feature maps; different channels and patches per step: nothing to subtract.
});
