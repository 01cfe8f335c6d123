/** Zeiler & Fergus figure 2: per channel, the dataset's k strongest patches and their projections (top-patches.js). */
import { FIRST_PICTURE_BLOB } from "../contract.js";
import { INACTIVE } from "./deconv.js";
import { defineKind } from "./kind.js";

export default defineKind("deconv_top", {
  label: "Top 9 of dataset",
  view: "top",
  stepsOf: "deconv", // logged only every few steps: navigate the layer's steps, show the latest at or before
  patchesIndex: FIRST_PICTURE_BLOB,
  projectionsIndex: FIRST_PICTURE_BLOB + 1,
  // `position`: a cell of the atlases (row = channel, column = rank); logs before the rule carry no `inactive`.
  flag: (info, probe, position) => (info.inactive?.[Math.floor(position / info.k)]?.[position % info.k] ? INACTIVE : null),
});
