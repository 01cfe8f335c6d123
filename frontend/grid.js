/**
 * The channel grid: one tile per logged channel, cropped from a single atlas PNG, with an info bar
 * that shows the hovered or focused channel's statistics and a colorbar for the current scale.
 */
import { displayRange, paint, renderTile, tileStats } from "./atlas.js";
import { drawColorbar } from "./colormaps.js";
import { el, formatNumber, formatPercent } from "./dom.js";

const TILE_GAP = 8;
const TILE_SIZES = { min: 72, max: 208 }; // CSS pixels of a tile's width

export function createGrid({ onOpen }) {
  const tiles = el("div", { className: "tiles", role: "list", "aria-label": "Channels" });
  const details = el("div", { className: "channel-details" });
  const colorbar = el("canvas", { className: "colorbar", "aria-hidden": "true" });
  const scaleLow = el("span");
  const scaleHigh = el("span");
  const scale = el("div", { className: "scale", title: "Activation range mapped to the colormap" }, [scaleLow, colorbar, scaleHigh]);
  const element = el("section", { className: "grid", "aria-label": "Feature maps" }, [
    el("div", { className: "infobar" }, [details, scale]),
    tiles,
  ]);
  let view = null; // what is drawn: { info, atlas, probe, norm, cmap }
  let layout = null; // the info whose channels and tile size the tiles were built for
  let hovered = null;

  new ResizeObserver(fitTiles).observe(tiles);

  /**
   * The largest tile size that fits the whole layer in the visible height (scrolling below the
   * minimum), in whole multiples of the tile's pixels when upscaled, so pixelated tiles stay even.
   */
  function fitTiles() {
    if (!layout) return;
    const [height, width] = layout.tile;
    const count = layout.channels.length;
    const available = { width: tiles.clientWidth, height: window.innerHeight - tiles.getBoundingClientRect().top - 16 };
    let size = TILE_SIZES.max;
    for (; size > TILE_SIZES.min; size -= 4) {
      const columns = Math.max(1, Math.floor((available.width + TILE_GAP) / (size + TILE_GAP)));
      const rows = Math.ceil(count / columns);
      if (rows * ((size * height) / width + TILE_GAP) <= available.height) break;
    }
    if (size >= 2 * width) size = Math.floor(size / width) * width;
    tiles.style.setProperty("--tile-size", `${Math.max(size, TILE_SIZES.min)}px`);
  }

  function buildTiles(info) {
    const [height, width] = info.tile;
    tiles.style.setProperty("--tile-aspect", `${width} / ${height}`);
    tiles.replaceChildren(
      ...info.channels.map((channel, position) => {
        const button = el("button", { type: "button", className: "tile", "data-position": position, "aria-label": `Channel ${channel}` }, [
          el("canvas", { width, height }),
          el("span", { className: "tile-label", "aria-hidden": "true", text: String(channel) }),
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
    const { info, probe, norm } = view;
    const [low, high] = displayRange(info, probe, position ?? 0, norm);
    const perChannel = norm !== "layer";
    scaleLow.textContent = perChannel && position === null ? "min" : formatNumber(low);
    scaleHigh.textContent = perChannel && position === null ? "max" : formatNumber(high);
    if (position === null) {
      const shown = info.channels.length;
      const total = info.shape[0];
      details.replaceChildren(
        el("span", { className: "muted", text: `${shown === total ? `${total} channels` : `${shown} of ${total} channels`} · hover a channel for statistics, click to enlarge` }),
      );
      return;
    }
    details.replaceChildren(...statsLine(tileStats(info, probe, position)));
  }

  /** Draw `atlas` (ImageData of the PNG at `source`) for one probe with the given look. */
  function draw({ info, atlas, probe, norm, cmap, source, step }) {
    if (JSON.stringify([info.channels, info.tile]) !== JSON.stringify([layout?.channels, layout?.tile])) {
      layout = info;
      buildTiles(info);
      fitTiles();
    }
    view = { info, atlas, probe, norm, cmap };
    tiles.querySelectorAll("canvas").forEach((canvas, position) => {
      paint(canvas, renderTile(atlas, info, probe, position, { norm, cmap }));
    });
    drawColorbar(colorbar, cmap);
    // For tests and debugging: which PNG and step the tiles come from.
    element.dataset.source = source;
    element.dataset.step = String(step);
    showDetails(hovered !== null && hovered < info.channels.length ? hovered : null);
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  return { element, draw, setBusy };
}

/** "Channel 5  mean 0.12  max 1.9  dead 40.1%  range −0.3 … 1.9" as labelled spans. */
export function statsLine(stats) {
  const item = (name, value) => el("span", { className: "stat" }, [el("span", { className: "stat-name", text: name }), ` ${value}`]);
  return [
    el("strong", { text: `Channel ${stats.channel}` }),
    item("mean", formatNumber(stats.mean)),
    item("max", formatNumber(stats.max)),
    item("dead", formatPercent(stats.dead)),
    item("range", `${formatNumber(stats.range[0])} … ${formatNumber(stats.range[1])}`),
  ];
}
