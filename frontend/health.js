/**
 * Layer health overview: for every layer of a run, charts over steps of the layer's mean
 * activation (over channels and probes) and the fraction of dead channels (a channel is dead at a
 * step when its maximum over all probes is <= 0). Both come from the feature-map series, so the
 * overview needs no atlas at all. A layer's name opens its channels. One of the views app.js shows
 * and hides ({ element, show(view), hide(), setBusy(busy) }).
 */
import * as api from "./api.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { formatNumber, formatPercent } from "./format.js";

export function createHealth({ onLayer }) {
  const rows = el("div", { className: "health-rows", role: "list" });
  const element = el("section", { className: "health", hidden: true, "aria-labelledby": "cnnviz-health-heading" }, [
    el("h2", { id: "cnnviz-health-heading", text: "Layer health" }),
    el("p", { className: "muted", text: "Per layer over training: mean activation, and the share of dead channels (no activation above 0 on any probe image)." }),
    rows,
  ]);
  let generation = 0;

  /** Charts of `run`'s `layers` with step `current` marked and the layer `selected` marked as current. */
  async function show({ run, layers, current, selected }) {
    element.hidden = false;
    const token = ++generation;
    const key = JSON.stringify([run, layers.map((layer) => layer.name)]);
    if (element.dataset.key !== key) {
      element.dataset.key = key;
      rows.replaceChildren(...layers.map((layer) => row(layer)));
    }
    delete element.dataset.ready;
    await Promise.all(layers.map((layer, index) => drawRow(rows.children[index], run, layer, current, token)));
    if (token !== generation) return;
    for (const item of rows.children) item.querySelector(".health-layer").toggleAttribute("aria-current", item.dataset.layer === selected);
    element.dataset.ready = key;
  }

  function row(layer) {
    return el("div", { className: "health-row", role: "listitem", "data-layer": layer.name }, [
      el("button", { type: "button", className: "health-layer", on: { click: () => onLayer(layer.name) } }, [
        el("span", { className: "layer-name", text: layer.name }),
        el("span", { className: "health-now" }),
      ]),
      el("div", { className: "health-charts" }),
    ]);
  }

  async function drawRow(item, run, layer, current, token) {
    const charts = item.querySelector(".health-charts");
    const now = item.querySelector(".health-now");
    const tag = layer.kinds.feature_maps;
    if (!tag) {
      now.textContent = "no feature maps logged";
      charts.replaceChildren();
      return;
    }
    const { steps, stats } = await api.fetchSeries(run, tag);
    if (token !== generation) return;
    const health = layerHealth(stats);
    const index = steps.indexOf(current) >= 0 ? steps.indexOf(current) : steps.length - 1;
    now.textContent = steps.length ? `step ${steps[index]}: mean ${formatNumber(health.mean[index])} · ${health.deadCount[index]} of ${health.channels} dead` : "no steps yet";
    charts.replaceChildren(
      lineChart({ label: "Mean activation", steps, values: health.mean, current }),
      lineChart({ label: "Dead channels", steps, values: health.dead, current, range: [0, 1], format: formatPercent }),
    );
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  function hide() {
    element.hidden = true;
  }

  return { element, show, hide, setBusy };
}

/** Per step: mean activation over channels, dead channel count and fraction. */
export function layerHealth(stats) {
  const channels = stats.max[0]?.length ?? 0;
  const mean = stats.mean.map((row) => {
    const known = row.filter((value) => value !== null);
    return known.length ? known.reduce((sum, value) => sum + value, 0) / known.length : null;
  });
  const deadCount = stats.max.map((row) => row.filter((value) => value !== null && value <= 0).length);
  return { channels, mean, deadCount, dead: deadCount.map((count) => (channels ? count / channels : null)) };
}
