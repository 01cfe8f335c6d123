/**
 * The channel grid: one tile per logged channel (per probe or class for model-level kinds), cropped
 * from a single atlas PNG, with an info bar that shows the hovered or focused tile's statistics and
 * a colorbar for the current scale.
 * What a tile shows, its caption and its statistics come from the kind (kinds.js). Kinds that tie
 * tiles to places in the probe image (deconv) get the probe's patch beside each tile and the probe
 * image beside the grid, with the hovered tile's receptive field drawn on it.
 */
import { paint } from "./atlas.js";
import { drawColorbar } from "./colormaps.js";
import { el } from "./dom.js";
import { countItems, itemLabel, itemNouns, tileLabel } from "./kinds.js";
import { createProbeView } from "./probe-view.js";

const TILE_GAP = 8;
const TILE_SIZES = { min: 72, max: 208 }; // CSS pixels of a tile's width
const CAPTION_HEIGHT = 18; // .tile-caption in style.css

/** `panel` names the grid among several ("shown", "compared", "difference"); tests select by it. */
export function createGrid({ onOpen, panel }) {
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
  let view = null; // what is drawn: { kind, info, atlas, probe, look, total }
  let layout = null; // { key, tile, count, captioned, panes, wide }: what the tile elements were built for
  let hovered = null;

  new ResizeObserver(fitTiles).observe(tiles);

  /**
   * The largest tile size that fits the whole layer in the visible height (scrolling below the
   * minimum), in whole multiples of the tile's pixels when upscaled, so pixelated tiles stay even.
   */
  function fitTiles() {
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

  function buildTiles(info, channels, captioned, panes) {
    const [height, width] = info.tile;
    tiles.style.setProperty("--tile-aspect", `${width} / ${height}`);
    tiles.replaceChildren(
      ...channels.map((channel, position) => {
        const pictures = [el("canvas", { width, height, className: "tile-picture" })];
        if (panes === 2) pictures.unshift(el("canvas", { width, height, className: "tile-patch", title: "Input patch" }));
        const button = el("button", { type: "button", className: "tile", "data-position": position }, [
          el("div", { className: "tile-panes" }, pictures),
          el("span", { className: "tile-label", "aria-hidden": "true" }),
          el("span", { className: "tile-dead", "aria-hidden": "true", text: "dead" }),
          captioned ? el("span", { className: "tile-caption" }) : null,
        ]);
        button.addEventListener("click", () => onOpen(channel));
        button.addEventListener("mouseenter", () => showDetails(position));
        button.addEventListener("focus", () => showDetails(position));
        button.addEventListener("mouseleave", () => showDetails(null));
        button.addEventListener("blur", () => showDetails(null));
        return el("div", { role: "listitem" }, [button]);
      }),
    );
  }

  function showDetails(position) {
    hovered = position;
    if (!view) return;
    const { kind, info, probe, look, total, channels } = view;
    const range = kind.scale(info, probe, position, look);
    scale.hidden = range === null;
    if (range) [scaleLow.textContent, scaleHigh.textContent] = range;
    probeView.setBox(position === null ? null : (kind.box?.(info, probe, position) ?? null));
    if (position === null) {
      const shown = channels.length;
      const dead = kind.deadPositions(info).size;
      const [one] = itemNouns(kind);
      const parts = [
        shown === total ? countItems(kind, total) : `${shown} of ${countItems(kind, total)}`,
        dead > 0 && `${dead} dead (no activation on any probe)`,
        kind.note,
        kind.captionLabel && `under each tile: ${kind.captionLabel}`,
        `hover a ${one} for statistics, click to enlarge`,
      ];
      details.replaceChildren(el("span", { className: "muted", text: parts.filter(Boolean).join(" · ") }));
      return;
    }
    details.replaceChildren(...statsLine(itemLabel(kind, info, channels[position]), kind.details(info, probe, position)));
  }

  /**
   * Draw `atlas` (ImageData of the PNG at `source`) of a `kind` (kinds.js) for one probe with the
   * given look ({ norm, cmap }); `total` is the layer's channel count. `probeImage` (decoded probe
   * PNG, or null) and `probeInfo` ({ label, src }) serve kinds that draw patches of the probe.
   */
  function draw({ kind, info, atlas, probe, look, total, source, step, probeImage = null, probeInfo = null }) {
    const channels = kind.channels(info, probe);
    const captioned = channels.some((_, position) => kind.caption(info, probe, position) !== null);
    const panes = kind.drawPatch && probeImage ? 2 : 1;
    const wide = panes * (kind.panes?.(info) ?? 1);
    const key = JSON.stringify([channels, info.tile, captioned, panes, wide]);
    if (key !== layout?.key) {
      layout = { key, tile: info.tile, count: channels.length, captioned, panes, wide };
      buildTiles(info, channels, captioned, panes);
    }
    const probeShown = Boolean(kind.box && probeInfo);
    probeView.element.hidden = !probeShown;
    if (probeShown) probeView.show({ ...probeInfo, size: probeImage ? [probeImage.height, probeImage.width] : null });
    fitTiles(); // also after the probe image came or went, which changes the width left for tiles
    view = { kind, info, atlas, probe, look, total, channels };
    const dead = kind.deadPositions(info);
    tiles.querySelectorAll(".tile").forEach((tile, position) => {
      paint(tile.querySelector(".tile-picture"), kind.drawTile(atlas, info, probe, position, look));
      if (panes === 2) paint(tile.querySelector(".tile-patch"), kind.drawPatch(probeImage, info, probe, position));
      if (captioned) tile.querySelector(".tile-caption").textContent = kind.caption(info, probe, position);
      const isDead = dead.has(position);
      tile.classList.toggle("dead", isDead);
      tile.querySelector(".tile-label").textContent = tileLabel(kind, info, channels[position]);
      tile.setAttribute("aria-label", `${itemLabel(kind, info, channels[position])}${isDead ? " (dead)" : ""}`);
    });
    drawColorbar(colorbar, look.cmap);
    // For tests and debugging: which PNG and step the tiles come from.
    element.dataset.source = source;
    element.dataset.step = String(step);
    showDetails(hovered !== null && hovered < channels.length ? hovered : null);
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  return { element, draw, setBusy };
}

/** "Channel 5  mean 0.12  max 1.9  dead 40.1%" as labelled spans: `title`, then a kind's [[name, text]]. */
export function statsLine(title, items) {
  return [el("strong", { text: title }), ...items.map(([name, text]) => el("span", { className: "stat" }, [el("span", { className: "stat-name", text: name }), ` ${text}`]))];
}
