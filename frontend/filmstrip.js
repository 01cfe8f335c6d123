/**
 * One channel across training: its tile at every logged step (or an evenly spaced subset) in one
 * row, and under it line charts of the channel's statistics over all steps (from the kind's
 * `series`). Frames are buttons that jump to their step.
 *
 * Many frames come from the plugin's `strip` route: one PNG with the channel's tile at every logged
 * step, left to right in `steps` order (transparent where a step has no tile of the channel), so a
 * filmstrip of any length is one request; a subset of steps picks columns. A few frames come from
 * their steps' atlases instead (see ATLAS_FRAMES). Positions and captions come from the series;
 * only a kind that needs a step's info to draw or caption a tile (kind.stripInfo) asks for the
 * infos of the shown steps. A newer show() drops the results of an older one.
 */
import * as api from "./api.js";
import { paint } from "./atlas.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { FRAME_COUNTS } from "./state.js";

/**
 * Up to this many frames load their steps' atlases (parallel, cached, shared with the grid and
 * playback); more load one strip. The strip route reads every step's atlas one after another on
 * the server (~45 ms each through TensorBoard's data server), so a few frames are faster apart.
 */
const ATLAS_FRAMES = 16;

/** A frame whose step the plugin could not read (corrupt info or picture): blank, and said so. */
const UNREADABLE = Symbol("unreadable");

/** `count` steps spread evenly over `steps`, first and last included; every step for 0. */
export function evenlySpaced(steps, count) {
  if (count === 0 || count >= steps.length) return steps;
  return Array.from({ length: count }, (_, i) => steps[Math.round((i * (steps.length - 1)) / (count - 1))]);
}

export function createFilmstrip({ onStep, onFrames }) {
  const framesSelect = el("select", { id: "cnnviz-frames", on: { change: () => onFrames(Number(framesSelect.value)) } }, [
    ...FRAME_COUNTS.map((count) => el("option", { value: count, text: `${count} steps` })),
    el("option", { value: 0, text: "Every step" }),
  ]);
  const row = el("div", { className: "filmstrip-frames", role: "list", "aria-label": "Channel at each shown step" });
  const charts = el("div", { className: "filmstrip-charts" });
  const element = el("section", { className: "filmstrip", "aria-labelledby": "cnnviz-filmstrip-heading" }, [
    el("div", { className: "filmstrip-head" }, [
      el("h3", { id: "cnnviz-filmstrip-heading", text: "Over training" }),
      el("label", { for: "cnnviz-frames", className: "legend", text: "Frames" }),
      framesSelect,
    ]),
    row,
    charts,
  ]);
  let generation = 0;

  /**
   * Show channel `channel` of `kind` for run/tag over `steps`; `frames` as in the state (0 = all);
   * `layout` = { tile, grid } of the tag's atlases (the same at every step).
   * Resolves once every frame and chart is drawn (or a newer call took over).
   */
  async function show({ kind, run, tag, steps, layout, channel, probe, look, frames, current }) {
    const token = ++generation;
    framesSelect.value = String(frames);
    const shown = evenlySpaced(steps, frames);
    const key = JSON.stringify([run, tag, channel, probe, look, shown]);
    if (element.dataset.key !== key) {
      element.dataset.key = key;
      delete element.dataset.ready;
      const [height, width] = layout.tile;
      row.style.setProperty("--frame-aspect", String(width / height)); // wide tiles (fooling triptychs) get wide frames
      row.replaceChildren(...shown.map((step) => frame(step, onStep)));
      charts.replaceChildren();
      const isCurrent = () => token === generation;
      await Promise.all([
        drawFrames(row, { kind, run, tag, steps, shown, layout, channel, probe, look }, isCurrent),
        drawCharts(charts, { kind, run, tag, channel, current }, isCurrent),
      ]);
      if (token !== generation) return;
      element.dataset.ready = key; // for tests and benchmarks: everything above is drawn
    } else {
      await drawCharts(charts, { kind, run, tag, channel, current }, () => token === generation); // only the current-step marker moved
    }
    for (const item of row.children) {
      item.firstChild.toggleAttribute("aria-current", Number(item.dataset.step) === current);
    }
    row.querySelector("[aria-current]")?.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  return { element, show };
}

function frame(step, onStep) {
  return el("div", { role: "listitem", "data-step": step }, [
    el("button", { type: "button", className: "frame", "aria-label": `Step ${step}`, on: { click: () => onStep(step) } }, [
      el("canvas", { width: 1, height: 1 }),
      el("span", { className: "frame-absent" }),
      el("span", { className: "frame-step", text: String(step) }),
      el("span", { className: "frame-caption" }),
    ]),
  ]);
}

/** Each shown step's frame into `row`'s items: its tile, or why it has none, and its caption. */
async function drawFrames(row, { kind, run, tag, steps, shown, layout, channel, probe, look }, isCurrent) {
  const imageIndex = kind.imageIndex(probe);
  const useStrip = shown.length > ATLAS_FRAMES;
  const series = kind.series.length ? api.fetchSeries(run, tag) : Promise.resolve(null);
  // Without a series the atlas position of the channel at each step comes from that step's info.
  const needsInfo = kind.stripInfo(look) || (!useStrip && kind.series.length === 0);
  const [tiles, statistics, infos] = await Promise.all([
    useStrip ? stripTiles({ run, tag, steps, shown, layout, channel, imageIndex }) : atlasTiles({ run, tag, shown, layout, imageIndex }),
    series,
    needsInfo ? Promise.all(shown.map((step) => api.fetchInfo(run, tag, step).catch(() => null))) : null,
  ]);
  if (!isCurrent()) return;
  const [height, width] = layout.tile;
  const k = statistics ? statistics.channels.indexOf(channel) : -1;
  shown.forEach((step, index) => {
    const item = row.children[index];
    const info = infos?.[index] ?? null;
    const infoPosition = info ? kind.channels(info, probe).indexOf(channel) : k;
    const tile = infos && !info ? UNREADABLE : tiles[index]; // a step whose needed info failed cannot be drawn
    const position = useStrip ? tile?.position : infoPosition;
    if (!tile || tile === UNREADABLE || position === undefined || position < 0) {
      // Deconv picks each probe's strongest channels per step: a channel may have no tile here.
      paint(item.querySelector("canvas"), new ImageData(width, height));
      item.querySelector(".frame-absent").textContent = tile === UNREADABLE ? `Step ${step} cannot be read` : kind.absent(step);
      item.firstChild.classList.add("absent");
      return;
    }
    const at = statistics ? statistics.steps.indexOf(step) : -1;
    const values = at >= 0 && k >= 0 ? Object.fromEntries(Object.entries(statistics.stats).map(([name, rows]) => [name, rows[at]?.[k] ?? null])) : {};
    const drawn = kind.frameTile
      ? kind.frameTile(tile.image, tile.layout, position, { info, probe, position: infoPosition, look })
      : kind.drawTile(tile.image, tile.layout, probe, position, look);
    paint(item.querySelector("canvas"), drawn);
    const caption = kind.frameCaption({ info, probe, position: infoPosition, values });
    item.querySelector(".frame-caption").textContent = caption ?? "";
  });
}

/** The kind's charts of the channel over all steps into `charts`, `current` marked. */
async function drawCharts(charts, { kind, run, tag, channel, current }, isCurrent) {
  if (kind.series.length === 0) return charts.replaceChildren();
  const series = await api.fetchSeries(run, tag);
  if (!isCurrent()) return;
  const k = series.channels.indexOf(channel);
  charts.replaceChildren(
    ...kind.series.map(({ stat, label, format, range }) =>
      lineChart({ label, steps: series.steps, values: (series.stats[stat] ?? []).map((row) => row[k] ?? null), current, format, range }),
    ),
  );
}

/**
 * Per shown step { image, layout, position } from the channel's strip (one request for all steps);
 * null where the strip has no tile of that step (transparent, or a step logged after it was built),
 * UNREADABLE where the plugin could not read the step.
 */
async function stripTiles({ run, tag, steps, shown, layout, channel, imageIndex }) {
  let strip, unreadable;
  try {
    ({ image: strip, unreadable } = await api.fetchStrip(run, tag, channel, imageIndex));
  } catch (error) {
    if (error.status === 404) return shown.map(() => null); // the channel has a tile at no step of this image
    throw error;
  }
  const [height, width] = layout.tile;
  const columns = Math.floor(strip.width / width);
  const stripLayout = { tile: [height, width], grid: [1, columns] }; // the strip as a one-row atlas
  return shown.map((step) => {
    const column = steps.indexOf(step);
    if (unreadable.has(step)) return UNREADABLE;
    const transparent = column < 0 || column >= columns || strip.data[column * width * 4 + 3] === 0;
    return transparent ? null : { image: strip, layout: stripLayout, position: column };
  });
}

/** Per shown step { image, layout } from that step's atlas (the cached `image` route), or UNREADABLE. */
function atlasTiles({ run, tag, shown, layout, imageIndex }) {
  const tile = async (step) => ({ image: await api.fetchPixels(api.imageUrl(run, tag, step, imageIndex)), layout });
  return Promise.all(shown.map((step) => tile(step).catch(() => UNREADABLE))); // one bad step never blanks the others
}
