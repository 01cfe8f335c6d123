/** Per probe, the smallest change that makes the model predict a target class: original | changed | difference. */
import { formatNumber, formatPercent } from "../format.js";
import { defineKind } from "./kind.js";
import { className, modelKind, probeItems } from "./model-kind.js";

const stepCount = (count) => `${count} step${count === 1 ? "" : "s"}`;

export default defineKind("fooling", {
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
    { stat: "steps", label: "Steps" },
  ],
  stripInfo: () => true, // captions: whether each step's model was fooled (not in the series)
});
