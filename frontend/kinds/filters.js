/** Filter images: per channel, the picture optimized from noise that excites it most (no probe involved). */
import { formatNumber } from "../format.js";
import { defineKind } from "./kind.js";

const NOT_REACHED = Object.freeze({ text: "not reached", why: "optimization ended at activation <= 0" });

/** A filter image that ended at a non-positive activation shows noise that does not excite its channel. */
export function notReachedFlag(info, probe, position) {
  const reached = info.activations[position];
  return reached !== null && reached !== undefined && reached <= 0 ? NOT_REACHED : null;
}

export default defineKind("filters", {
  label: "Filter images",
  caption: (info, probe, position) => formatNumber(info.activations[position]),
  captionLabel: "reached activation",
  details: (info, probe, position) => [["reached activation", formatNumber(info.activations[position])]],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [{ stat: "activation", label: "Reached activation" }],
  frameCaption: ({ values }) => (values.activation == null ? null : formatNumber(values.activation)),
  flag: notReachedFlag,
  // difference: false, pictures optimized from noise: pixel differences say nothing
});
