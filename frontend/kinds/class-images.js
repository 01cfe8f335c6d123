/** Per class, the image that maximizes its score (item = class index), optimized from noise. */
import { formatNumber, formatPercent } from "../format.js";
import { defineKind } from "./kind.js";
import { className, modelKind } from "./model-kind.js";
import { pictures } from "./pictures.js";

const LOST = Object.freeze({ text: "lost", why: "classified as another class" });

/** A class image the model does not classify as its class (logs before `predicted` draw unflagged). */
export function lostFlag(info, probe, position) {
  const predicted = info.predicted?.[position];
  return predicted == null || predicted === info.channels[position] ? null : LOST;
}

export default defineKind("class_visualization", {
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
    ...(lostFlag(info, probe, position) ? [["classified as", className(info, info.predicted[position])]] : []),
    ["objective", info.objective ?? "score"],
    ["optimization steps", String(info.steps)],
    ["L2 penalty", formatNumber(info.l2)],
  ],
  scale: (info, probe, position, look) => (look.cmap ? ["0", "1"] : null),
  series: [
    { stat: "probability", label: "Probability", format: formatPercent, range: [0, 1] },
    { stat: "score", label: "Score" },
  ],
  flag: lostFlag,
  frameCaption: ({ values }) => (values.probability == null ? null : formatPercent(values.probability)),
});
