/** Filter images: per channel, the picture optimized from noise that excites it most (no probe involved). */
import { formatNumber } from "../format.js";
import { defineKind } from "./kind.js";

export default defineKind("filters", {
  label: "Filter images",
  caption: (info, probe, position) => formatNumber(info.activations[position]),
  captionLabel: "reached activation",
  details: (info, probe, position) => [["reached activation", formatNumber(info.activations[position])]],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [{ stat: "activation", label: "Reached activation" }],
  frameCaption: ({ values }) => (values.activation == null ? null : formatNumber(values.activation)),
  // difference: false, pictures optimized from noise: pixel differences say nothing
});
