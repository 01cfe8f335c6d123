/** What the model-level kinds share (saliency, Grad-CAM, class images, fooling images). */
import { copyTile } from "../atlas.js";
import { formatPercent } from "../format.js";

/** One atlas holding every probe or class at once, so the probe picker has no say, drawn as logged. */
export const modelKind = {
  looks: () => ({ norm: false, cmap: false }),
  drawTile: (atlas, info, probe, position) => copyTile(atlas, info, position),
  absent: (step) => `not logged at step ${step}`,
  // difference: false, pictures of different predictions: pixel differences say nothing
};

/** Tiles of one probe image each (item = probe index), named by the probe's label. */
export const probeItems = {
  nouns: ["probe", "probes"],
  itemName: (info, probe) => [`Probe ${probe + 1}`, info.labels?.[probe]].filter(Boolean).join(": "),
  tileLabel: (info, probe) => info.labels?.[probe] ?? `Probe ${probe + 1}`,
  probesNote: "Every probe image has its own tile.",
};

/** The model's name of output `index` ("class 7" when the log names none). */
export function className(info, index) {
  return info.class_names?.[index] ?? `class ${index}`;
}

/** Per probe tile: the class the model predicts and its probability (saliency, Grad-CAM). */
export const predictedClass = {
  caption: (info, probe, position) => `${className(info, info.predicted[position])} ${formatPercent(info.probabilities[position])}`,
  captionLabel: "predicted class and its probability",
  details: (info, probe, position) => [
    ["predicted", className(info, info.predicted[position])],
    ["probability", formatPercent(info.probabilities[position])],
  ],
  series: [{ stat: "probability", label: "Probability of the predicted class", format: formatPercent, range: [0, 1] }],
  stripInfo: () => true, // captions: the class each step predicts (the series holds only its probability)
};
