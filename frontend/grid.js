/**
 * The channel grid: one tile per logged channel (per probe or class for model-level kinds), cropped
 * from a single atlas PNG, with an info bar that shows the hovered or focused tile's statistics and
 * a colorbar for the current scale; and the panel around it (a title, for comparisons), one of the
 * views app.js shows and hides ({ element, show(view), hide(), setBusy(busy) }).
 * What a tile shows, its caption and its statistics come from the kind (kinds/). Kinds that tie
 * tiles to places in the probe image (deconv) get the probe's patch beside each tile and the probe
 * image beside the grid, with the hovered tile's receptive field drawn on it.
 */
import { paint } from "./atlas.js";
import { drawColorbar } from "./colormaps.js";
import { el } from "./dom.js";
import { countItems, itemLabel } from "./kinds/index.js";
import { createProbeView } from "./probe-view.js";

const TILE_GAP = 8;
const TILE_SIZES = { min: 72, max: 208 }; // CSS pixels of a tile's width
const CAPTION_HEIGHT = 18; // .tile-caption in style.css

/**
 * A grid in a panel; `name` names it among several ("shown", "compared", "difference"), tests select by it.
 * show(view): unhide and draw `view` (see createGrid's draw), titled `view.title` (null: no title).
 */
export function createGridPanel(name, { onOpen }) {
  const grid = createGrid({ onOpen, panel: name });
  const title = el("h2", { className: "panel-title", hidden: true });
  const element = el("div", { className: "panel", hidden: true }, [title, grid.element]);
  return {
    element,
    show(view) {
      element.hidden = false; // first: the tiles are sized to the width they get
      title.hidden = view.title === null;
      title.textContent = view.title ?? "";
      grid.draw(view);
    },
    hide() {
      element.hidden = true;
    },
    setBusy: grid.setBusy,
  };
}

export function createGrid({ onOpen, panel }) {
  const parts = gridParts(panel);
  const { element, tiles } = parts;
  const drawn = { view: null, layout: null, hovered: null }; // the view drawn; what the tile elements were built for
  const showDetails = (position) => {
    drawn.hovered = position;
    if (drawn.view) describe(parts, drawn.view, position);
  };
  new ResizeObserver(() => fitTiles(tiles, drawn.layout)).observe(tiles);

  /**
   * Draw `atlas` (ImageData of the PNG at `source`) of a `kind` (kinds/) for one probe with the
   * given look ({ norm, cmap }); `total` is the layer's channel count. `probeImage` (decoded probe
   * PNG, or null) and `probeInfo` ({ label, src }) serve kinds that draw patches of the probe.
   */
  function draw({ kind, info, atlas, probe, look, total, source, step, probeImage = null, probeInfo = null }) {
    const channels = kind.channels(info, probe);
    const captioned = channels.some((_, position) => kind.caption(info, probe, position) !== null);
    const panes = kind.drawPatch && probeImage ? 2 : 1;
    const wide = panes * kind.panes(info);
    const key = JSON.stringify([channels, info.tile, captioned, panes, wide]);
    if (key !== drawn.layout?.key) {
      drawn.layout = { key, tile: info.tile, count: channels.length, captioned, panes, wide };
      buildTiles(tiles, { info, channels, captioned, panes }, { onOpen, showDetails });
    }
    const probeShown = Boolean(kind.box && probeInfo); // the probe image beside the grid, for the hovered tile's box
    parts.probeView.element.hidden = !probeShown;
    if (probeShown) parts.probeView.show({ ...probeInfo, size: probeImage ? [probeImage.height, probeImage.width] : null });
    fitTiles(tiles, drawn.layout); // also after the probe image came or went, which changes the width left for tiles
    drawn.view = { kind, info, atlas, probe, look, total, channels };
    paintTiles(tiles, drawn.view, { panes, captioned, probeImage });
    drawColorbar(parts.colorbar, look.cmap);
    // For tests and debugging: which PNG and step the tiles come from.
    element.dataset.source = source;
    element.dataset.step = String(step);
    showDetails(drawn.hovered !== null && drawn.hovered < channels.length ? drawn.hovered : null);
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  return { element, draw, setBusy };
}

function gridParts(panel) {
  const tiles = el("div", { className: "tiles", role: "list", "aria-label": "Channels" });
  const details = el("div", { className: "channel-details" });
  const colorbar = el("canvas", { className: "colorbar", "aria-hidden": "true" });
  const scaleLow = el("span");
  const scaleHigh = el("span");
  const scale = el("div", { className: "scale", title: "Values mapped to the colormap's ends" }, [scaleLow, colorbar, scaleHigh]);
  const probeView = createProbeView({ className: "grid-probe" });
  const element = el("section", { className: "grid", "aria-label": "Channels", "data-panel": panel }, [
    el("div", { className: "infobar" }, [details, scale]),
    el("div", { className: "grid-body" }, [probeView.element, tiles]),
  ]);
  return { element, tiles, details, colorbar, scale, scaleLow, scaleHigh, probeView };
}

/**
 * The largest tile size that fits the whole layer in the visible height (scrolling below the
 * minimum), in whole multiples of the tile's pixels when upscaled, so pixelated tiles stay even.
 */
function fitTiles(tiles, layout) {
  if (!layout) return;
  const [height, width] = layout.tile;
  const { count, panes, wide } = layout;
  const extra = TILE_GAP + (layout.captioned ? CAPTION_HEIGHT : 0);
  const available = { width: tiles.clientWidth, height: window.innerHeight - tiles.getBoundingClientRect().top - 16 };
  // A tile holds `panes` pictures side by side (patch and projection), each maybe several panes
  // wide itself (a fooling triptych): `wide` normal tiles in all, so it may be that much wider.
  const pixels = panes * width; // the tile's width in atlas pixels
  let size = TILE_SIZES.max * wide;
  for (; size > TILE_SIZES.min * wide; size -= 4) {
    const columns = Math.max(1, Math.floor((available.width + TILE_GAP) / (size + TILE_GAP)));
    const rows = Math.ceil(count / columns);
    if (rows * (size * (height / pixels) + extra) <= available.height) break;
  }
  if (size >= 2 * pixels) size = Math.floor(size / pixels) * pixels;
  tiles.style.setProperty("--tile-size", `${Math.max(size, TILE_SIZES.min * wide)}px`);
}

function buildTiles(tiles, { info, channels, captioned, panes }, { onOpen, showDetails }) {
  const [height, width] = info.tile;
  tiles.style.setProperty("--tile-aspect", `${width} / ${height}`);
  tiles.replaceChildren(
    ...channels.map((channel, position) => {
      const pictures = [el("canvas", { width, height, className: "tile-picture" })];
      if (panes === 2) pictures.unshift(el("canvas", { width, height, className: "tile-patch", title: "Input patch" }));
      const on = { click: () => onOpen(channel), mouseenter: () => showDetails(position), focus: () => showDetails(position) };
      Object.assign(on, { mouseleave: () => showDetails(null), blur: () => showDetails(null) });
      const button = el("button", { type: "button", className: "tile", "data-position": position, on }, [
        el("div", { className: "tile-panes" }, pictures),
        el("span", { className: "tile-label", "aria-hidden": "true" }),
        el("span", { className: "tile-flag", "aria-hidden": "true" }),
        captioned ? el("span", { className: "tile-caption" }) : null,
      ]);
      return el("div", { role: "listitem" }, [button]);
    }),
  );
}

function paintTiles(tiles, { kind, info, atlas, probe, look, channels }, { panes, captioned, probeImage }) {
  tiles.querySelectorAll(".tile").forEach((tile, position) => {
    paint(tile.querySelector(".tile-picture"), kind.drawTile(atlas, info, probe, position, look));
    if (panes === 2) paint(tile.querySelector(".tile-patch"), kind.drawPatch(probeImage, info, probe, position));
    if (captioned) tile.querySelector(".tile-caption").textContent = kind.caption(info, probe, position);
    const flag = kind.flag(info, probe, position);
    tile.classList.toggle("flagged", flag !== null);
    tile.dataset.flag = flag?.text ?? "";
    tile.querySelector(".tile-flag").textContent = flag?.text ?? "";
    tile.querySelector(".tile-label").textContent = kind.tileLabel(info, channels[position]);
    tile.setAttribute("aria-label", `${itemLabel(kind, info, channels[position])}${flag ? ` (${flag.text})` : ""}`);
  });
}

/** The info bar for the tile at `position` (null: none hovered, a summary of the grid). */
function describe({ details, scale, scaleLow, scaleHigh, probeView }, { kind, info, probe, look, total, channels }, position) {
  const range = kind.scale(info, probe, position, look);
  scale.hidden = range === null;
  if (range) [scaleLow.textContent, scaleHigh.textContent] = range;
  probeView.setBox(position === null || !kind.box ? null : kind.box(info, probe, position));
  if (position !== null) return details.replaceChildren(...statsLine(itemLabel(kind, info, channels[position]), kind.details(info, probe, position)));
  const shown = channels.length;
  const parts = [
    shown === total ? countItems(kind, total) : `${shown} of ${countItems(kind, total)}`,
    ...flagCounts(kind, info, probe, shown),
    kind.note,
    kind.captionLabel && `under each tile: ${kind.captionLabel}`,
    `hover a ${kind.nouns[0]} for statistics, click to enlarge`,
  ];
  details.replaceChildren(el("span", { className: "muted", text: parts.filter(Boolean).join(" · ") }));
}

/** "3 dead (no activation on any probe)": how many of the first `shown` tiles carry each flag. */
export function flagCounts(kind, info, probe, shown) {
  const counts = new Map(); // text -> [count, why]
  for (let position = 0; position < shown; position++) {
    const flag = kind.flag(info, probe, position);
    if (flag) counts.set(flag.text, [(counts.get(flag.text)?.[0] ?? 0) + 1, flag.why]);
  }
  return [...counts].map(([text, [count, why]]) => `${count} ${text} (${why})`);
}

/** "Channel 5  mean 0.12  max 1.9  dead 40.1%" as labelled spans: `title`, then a kind's [[name, text]]. */
export function statsLine(title, items) {
  return [el("strong", { text: title }), ...items.map(([name, text]) => el("span", { className: "stat" }, [el("span", { className: "stat-name", text: name }), ` ${text}`]))];
}
