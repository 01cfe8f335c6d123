/**
 * Turning one atlas (all channels of a layer for one probe, one grey tile per channel, row-major)
 * into coloured tiles, with the normalization described in the contract:
 * - per channel: atlas pixel v is already the tile's own min..max stretch; show v as is;
 * - layer-wide: v means activation lo + v/255*(hi-lo) of that tile; show it on the scale of the
 *   lowest lo and highest hi over the probe's tiles, so channels compare by brightness.
 */
import { COLORMAPS } from "./colormaps.js";

/** [lowest, highest] activation over all tiles of one probe. */
export function layerRange(info, probe) {
  const ranges = info.tile_range[probe];
  return [Math.min(...ranges.map(([lo]) => lo)), Math.max(...ranges.map(([, hi]) => hi))];
}

/** Activation range that maps to the colormap's ends for tile `position`. */
export function displayRange(info, probe, position, norm) {
  return norm === "layer" ? layerRange(info, probe) : info.tile_range[probe][position];
}

/** Statistics of the tile at atlas `position`, as the info JSON carries them. */
export function tileStats(info, probe, position) {
  const { mean, max, dead } = info.stats;
  return {
    channel: info.channels[position],
    mean: mean[probe][position],
    max: max[probe][position],
    dead: dead[probe][position],
    range: info.tile_range[probe][position],
  };
}

/** Colormap index (0..255) for every atlas value 0..255 of one tile. */
function valueToIndex(info, probe, position, norm) {
  const table = new Uint8ClampedArray(256);
  if (norm !== "layer") {
    for (let v = 0; v < 256; v++) table[v] = v;
    return table;
  }
  const [lo, hi] = info.tile_range[probe][position];
  const [layerLo, layerHi] = layerRange(info, probe);
  const span = layerHi - layerLo;
  for (let v = 0; v < 256; v++) {
    const activation = lo + (v / 255) * (hi - lo);
    table[v] = span > 0 ? Math.round(((activation - layerLo) / span) * 255) : 0;
  }
  return table;
}

/** The tile at atlas `position` as coloured ImageData of tile size. */
export function renderTile(atlas, info, probe, position, { norm, cmap }) {
  const [tileHeight, tileWidth] = info.tile;
  const columns = info.grid[1];
  const x0 = (position % columns) * tileWidth;
  const y0 = Math.floor(position / columns) * tileHeight;
  const toIndex = valueToIndex(info, probe, position, norm);
  const { lut } = COLORMAPS[cmap];
  const tile = new ImageData(tileWidth, tileHeight);
  for (let y = 0; y < tileHeight; y++) {
    for (let x = 0; x < tileWidth; x++) {
      const value = atlas.data[((y0 + y) * atlas.width + x0 + x) * 4]; // grey PNG: R = G = B
      const index = toIndex[value] * 3;
      const out = (y * tileWidth + x) * 4;
      tile.data[out] = lut[index];
      tile.data[out + 1] = lut[index + 1];
      tile.data[out + 2] = lut[index + 2];
      tile.data[out + 3] = 255;
    }
  }
  return tile;
}

/** Put ImageData into a canvas sized to it (CSS scales it up, pixelated). */
export function paint(canvas, image) {
  if (canvas.width !== image.width) canvas.width = image.width;
  if (canvas.height !== image.height) canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}
