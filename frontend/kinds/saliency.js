/** Simonyan et al.: where the input's pixels most change the predicted class's score. */
import { defineKind } from "./kind.js";
import { modelKind, predictedClass, probeItems } from "./model-kind.js";

export default defineKind("saliency", {
  ...modelKind,
  ...probeItems,
  ...predictedClass,
  label: "Saliency",
  note: "each tile: the probe image with its gradient magnitude in jet colours (red = most important)",
});
