/**
 * One channel across training: its tile at every logged step (or an evenly spaced subset) in one
 * row, and under it line charts of the channel's statistics over all steps (from the kind's
 * `series`). Frames are buttons that jump to their step. Frames load in parallel and appear as
 * they arrive; a newer show() drops the results of an older one.
 */
import * as api from "./api.js";
import { paint } from "./atlas.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { FRAME_COUNTS } from "./state.js";

/** `count` steps spread evenly over `steps`, first and last included; every step for 0. */
export function evenlySpaced(steps, count) {
  if (count === 0 || count >= steps.length) return steps;
  return Array.from({ length: count }, (_, i) => steps[Math.round((i * (steps.length - 1)) / (count - 1))]);
}

export function createFilmstrip({ onStep, onFrames }) {
  const framesSelect = el(
    "select",
    { id: "cnnviz-frames", on: { change: () => onFrames(Number(framesSelect.value)) } },
    [...FRAME_COUNTS.map((count) => el("option", { value: count, text: `${count} steps` })), el("option", { value: 0, text: "Every step" })],
  );
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
   * Show channel `channel` of `kind` for run/tag over `steps`; `frames` as in the state (0 = all).
   * Resolves once every frame and chart is drawn (or a newer call took over).
   */
  async function show({ kind, run, tag, steps, channel, probe, look, frames, current }) {
    const token = ++generation;
    framesSelect.value = String(frames);
    const shown = evenlySpaced(steps, frames);
    const key = JSON.stringify([run, tag, channel, probe, look, shown]);
    if (element.dataset.key !== key) {
      element.dataset.key = key;
      delete element.dataset.ready;
      row.replaceChildren(...shown.map((step) => frame(step)));
      charts.replaceChildren();
      await Promise.all([
        ...shown.map((step, index) => drawFrame(row.children[index], { kind, run, tag, step, channel, probe, look }, token)),
        drawCharts({ kind, run, tag, channel, current }, token),
      ]);
      if (token !== generation) return;
      element.dataset.ready = key; // for tests and benchmarks: everything above is drawn
    } else {
      await drawCharts({ kind, run, tag, channel, current }, token); // only the current-step marker moved
    }
    for (const item of row.children) {
      item.firstChild.toggleAttribute("aria-current", Number(item.dataset.step) === current);
    }
    row.querySelector("[aria-current]")?.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function frame(step) {
    return el("div", { role: "listitem", "data-step": step }, [
      el("button", { type: "button", className: "frame", "aria-label": `Step ${step}`, on: { click: () => onStep(step) } }, [
        el("canvas", { width: 1, height: 1 }),
        el("span", { className: "frame-absent" }),
        el("span", { className: "frame-step", text: String(step) }),
        el("span", { className: "frame-caption" }),
      ]),
    ]);
  }

  async function drawFrame(item, { kind, run, tag, step, channel, probe, look }, token) {
    const [info, atlas] = await Promise.all([api.fetchInfo(run, tag, step), api.fetchPixels(api.imageUrl(run, tag, step, kind.imageIndex(probe)))]);
    if (token !== generation) return;
    const position = kind.channels(info, probe).indexOf(channel);
    if (position < 0) {
      // Deconv picks each probe's strongest channels per step: a channel may have no tile here.
      const [height, width] = info.tile;
      paint(item.querySelector("canvas"), new ImageData(width, height));
      item.querySelector(".frame-absent").textContent = kind.absent(step);
      item.firstChild.classList.add("absent");
      return;
    }
    paint(item.querySelector("canvas"), kind.drawTile(atlas, info, probe, position, look));
    item.querySelector(".frame-caption").textContent = kind.caption(info, probe, position) ?? "";
  }

  async function drawCharts({ kind, run, tag, channel, current }, token) {
    if (kind.series.length === 0) return charts.replaceChildren();
    const series = await api.fetchSeries(run, tag);
    if (token !== generation) return;
    const k = series.channels.indexOf(channel);
    charts.replaceChildren(
      ...kind.series.map(({ stat, label, format, range }) =>
        lineChart({ label, steps: series.steps, values: (series.stats[stat] ?? []).map((row) => row[k] ?? null), current, format, range }),
      ),
    );
  }

  return { element, show };
}
