/**
 * Layer health: an Overview and a Dynamics view, toggled in the panel (state `health`). The overview:
 * for every layer of a run, charts over steps of the layer's mean activation (over channels and
 * probes) and the fraction of dead channels (a channel is dead at a step when its maximum over all
 * probes is <= 0). Both come from the feature-map series, so the overview needs no atlas at all. A
 * layer's name opens its channels. The dynamics view is dynamics.js. One of the views app.js shows and
 * hides ({ element, show(view), hide(), setBusy(busy) }).
 */
import * as api from "./api.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { createDynamics } from "./dynamics.js";
import { formatNumber, formatPercent } from "./format.js";
import { HEALTH_VIEWS } from "./state.js";

const NOTES = {
  overview: "Per layer over training: mean activation, and the share of dead channels (no activation above 0 on any probe image).",
  dynamics: "Per layer over training: how much its representation of the probe images changed (linear CKA), dead channels, and which channels drift.",
};

/** `onView(view)`: switch between HEALTH_VIEWS; `onChannel({ layer, kind, channel })`: open a channel (dynamics). */
export function createHealth({ onLayer, onView, onChannel }) {
  const rows = el("div", { className: "health-rows", role: "list" });
  const note = el("p", { className: "muted" });
  const toggle = viewToggle(onView);
  const dynamics = createDynamics({ onChannel });
  const element = el("section", { className: "health", hidden: true, "aria-labelledby": "cnnviz-health-heading" }, [
    el("div", { className: "health-head" }, [el("h2", { id: "cnnviz-health-heading", text: "Layer health" }), toggle]),
    note,
    rows,
    dynamics.element,
  ]);
  let generation = 0;

  /** `view` ("overview" or "dynamics") of `run`'s `layers` with step `current` marked and the layer `selected` marked as current. */
  async function show({ run, layers, current, selected, view = "overview" }) {
    element.hidden = false;
    for (const input of toggle.querySelectorAll("input")) input.checked = input.value === view;
    note.textContent = NOTES[view];
    rows.hidden = view !== "overview";
    const token = ++generation;
    delete element.dataset.ready;
    if (view === "dynamics") return dynamics.show({ run, current });
    dynamics.hide();
    const key = JSON.stringify([run, layers.map((layer) => layer.name)]);
    if (element.dataset.key !== key) {
      element.dataset.key = key;
      rows.replaceChildren(...layers.map((layer) => row(layer, onLayer)));
    }
    await Promise.all(layers.map((layer, index) => drawRow(rows.children[index], run, layer, current, token)));
    if (token !== generation) return;
    for (const item of rows.children) item.querySelector(".health-layer").toggleAttribute("aria-current", item.dataset.layer === selected);
    element.dataset.ready = key;
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

/** Overview | Dynamics, as radio buttons. */
function viewToggle(onView) {
  return el(
    "div",
    { className: "segmented health-views", role: "radiogroup", "aria-label": "Layer health view" },
    Object.entries(HEALTH_VIEWS).map(([value, label]) =>
      el("label", {}, [el("input", { type: "radio", name: "cnnviz-health-view", value, on: { change: () => onView(value) } }), el("span", { text: label })]),
    ),
  );
}

function row(layer, onLayer) {
  return el("div", { className: "health-row", role: "listitem", "data-layer": layer.name }, [
    el("button", { type: "button", className: "health-layer", on: { click: () => onLayer(layer.name) } }, [
      el("span", { className: "layer-name", text: layer.name }),
      el("span", { className: "health-now" }),
    ]),
    el("div", { className: "health-charts" }),
  ]);
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
