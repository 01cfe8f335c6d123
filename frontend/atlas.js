/**
 * Pixels of atlases: one PNG per (layer, kind, image, step) holding a tile per channel, row-major.
 * Cropping a tile, colouring a grey tile through a value table and a colormap, copying an RGB tile.
 *
 * Feature-map atlases follow the contract's normalization:
 * - per channel: atlas pixel v is already the tile's own min..max stretch; show v as is;
 * - layer-wide: v means activation lo + v/255*(hi-lo) of that tile; show it on the scale of the
 *   lowest lo and highest hi over the probe's tiles, so channels compare by brightness.
 */
import { lookupTable } from "./colormaps.js";

/** [lowest, highest] activation over all tiles of one probe. */
export function layerRange(info, probe) {
  const ranges = info.tile_range[probe];
  return [Math.min(...ranges.map(([lo]) => lo)), Math.max(...ranges.map(([, hi]) => hi))];
}

/** Activation range that maps to the colormap's ends for feature-map tile `position`. */
export function displayRange(info, probe, position, norm) {
  return norm === "layer" ? layerRange(info, probe) : info.tile_range[probe][position];
}

const IDENTITY = Uint8ClampedArray.from({ length: 256 }, (_, v) => v);

/** Colormap index (0..255) for every atlas value 0..255 of one feature-map tile. */
export function normalizationTable(info, probe, position, norm) {
  if (norm !== "layer") return IDENTITY;
  const table = new Uint8ClampedArray(256);
  const [lo, hi] = info.tile_range[probe][position];
  const [layerLo, layerHi] = layerRange(info, probe);
  const span = layerHi - layerLo;
  for (let v = 0; v < 256; v++) {
    const activation = lo + (v / 255) * (hi - lo);
    table[v] = span > 0 ? Math.round(((activation - layerLo) / span) * 255) : 0;
  }
  return table;
}

/** Where tile `position` lies in the atlas. */
export function tileBox(info, position) {
  const [height, width] = info.tile;
  const columns = info.grid[1];
  return { x0: (position % columns) * width, y0: Math.floor(position / columns) * height, width, height };
}

/** A grey tile (R = G = B in the PNG) as ImageData, value v drawn as colormap entry table[v]. */
export function colourGreyTile(atlas, info, position, { table = IDENTITY, cmap }) {
  const { x0, y0, width, height } = tileBox(info, position);
  const lut = lookupTable(cmap);
  const tile = new ImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const index = table[atlas.data[((y0 + y) * atlas.width + x0 + x) * 4]] * 3;
      const out = (y * width + x) * 4;
      tile.data[out] = lut[index];
      tile.data[out + 1] = lut[index + 1];
      tile.data[out + 2] = lut[index + 2];
      tile.data[out + 3] = 255;
    }
  }
  return tile;
}

/** An RGB tile as ImageData, pixels as logged. */
export function copyTile(atlas, info, position) {
  const { x0, y0, width, height } = tileBox(info, position);
  const tile = new ImageData(width, height);
  for (let y = 0; y < height; y++) {
    const start = ((y0 + y) * atlas.width + x0) * 4;
    tile.data.set(atlas.data.subarray(start, start + width * 4), y * width * 4);
  }
  return tile;
}

const greyness = new WeakMap();

/** Whether the atlas is grey (a PNG of mode L decodes to R = G = B); remembered per atlas. */
export function isGrey(atlas) {
  let grey = greyness.get(atlas);
  if (grey === undefined) {
    const { data } = atlas;
    grey = true;
    for (let i = 0; i < data.length && grey; i += 4) grey = data[i] === data[i + 1] && data[i] === data[i + 2];
    greyness.set(atlas, grey);
  }
  return grey;
}

/** Put ImageData into a canvas sized to it (CSS scales it up, pixelated). */
export function paint(canvas, image) {
  if (canvas.width !== image.width) canvas.width = image.width;
  if (canvas.height !== image.height) canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

/**
 * The `size` ([h, w]) crop of `image` whose top-left is image pixel `start` ([row, col], may be
 * negative); pixels outside the image stay transparent, so they read as "no image here".
 */
export function cropImage(image, [row, col], [height, width]) {
  const crop = new ImageData(width, height);
  for (let y = 0; y < height; y++) {
    const sourceY = row + y;
    if (sourceY < 0 || sourceY >= image.height) continue;
    for (let x = 0; x < width; x++) {
      const sourceX = col + x;
      if (sourceX < 0 || sourceX >= image.width) continue;
      const from = (sourceY * image.width + sourceX) * 4;
      crop.data.set(image.data.subarray(from, from + 4), (y * width + x) * 4);
    }
  }
  return crop;
}
