/**
 * Pictures already in display space (optimized from noise, overlays, ...), drawn as logged: only a grey
 * atlas can take a colormap. The default look of every kind (kind.js).
 */
import { colourGreyTile, copyTile, isGrey } from "../atlas.js";

export const pictures = {
  looks: (info, atlas) => ({ norm: false, cmap: isGrey(atlas) }),
  drawTile: (atlas, info, probe, position, { cmap }) => (isGrey(atlas) ? colourGreyTile(atlas, info, position, { cmap }) : copyTile(atlas, info, position)),
};
