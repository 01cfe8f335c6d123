/** Grad-CAM: saliency's question answered at a late conv layer's resolution. */
import { formatShape } from "../format.js";
import { defineKind } from "./kind.js";
import { modelKind, predictedClass, probeItems } from "./model-kind.js";

export default defineKind("grad_cam", {
  ...modelKind,
  ...probeItems,
  ...predictedClass,
  label: "Grad-CAM",
  note: "each tile: the probe image with the class activation map of one layer in jet colours (red = most important)",
  details: (info, probe, position) => [...predictedClass.details(info, probe, position), ["layer", `${info.layer} (${formatShape(info.layer_size)})`]],
});
