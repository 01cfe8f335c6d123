/**
 * The Dynamics view of layer health: how the run's layers and channels changed over training, from the
 * plugin's `dynamics` route. The layer x step heat map first (the whole model at a glance), then per
 * layer its change curves, the step it settled at (or "still changing"), the channels that drifted
 * most lately (a click opens the channel's filmstrip of feature maps) and, where filter images were
 * logged, how alike they are. Shown and hidden by health.js ({ element, show({ run, current }), hide() }).
 */
import * as api from "./api.js";
import { lineChart } from "./charts.js";
import { el } from "./dom.js";
import { formatNumber, formatPercent } from "./format.js";
import { heatMap } from "./heat-map.js";

const RANKED = 8; // channels listed per layer
const FILMSTRIP_KIND = "feature_maps"; // whose filmstrip a ranked channel opens

/** `onChannel({ layer, kind, channel })`: open that channel of that layer's kind. */
export function createDynamics({ onChannel }) {
  const summary = el("p", { className: "muted dynamics-summary" });
  const heat = el("div", { className: "dynamics-heat" });
  const rows = el("div", { className: "dynamics-rows", role: "list" });
  const element = el("div", { className: "dynamics", hidden: true }, [summary, heat, rows]);
  let generation = 0;

  /** Draw `run`'s dynamics with step `current` marked; resolves once drawn (or a newer call took over). */
  async function show({ run, current }) {
    element.hidden = false;
    const token = ++generation;
    delete element.dataset.ready;
    const answer = await api.fetchDynamics(run);
    if (token !== generation) return;
    summary.textContent = describe(answer);
    heat.replaceChildren(...(answer.layers.length ? [heatMap({ ...answer.heat, current })] : []));
    rows.replaceChildren(...answer.layers.map((layer) => layerRow(layer, current, onChannel)));
    element.dataset.ready = JSON.stringify([run, current]); // for tests: everything above is drawn
  }

  function hide() {
    element.hidden = true;
  }

  return { element, show, hide };
}

function describe({ layers, threshold, skipped }) {
  if (!layers.length) return "This run logged no training dynamics. Add the “dynamics” kind to the callback's kinds to see how layers and channels change.";
  const unread = skipped.length ? ` ${skipped.length} logged step${skipped.length === 1 ? "" : "s"} could not be read and ${skipped.length === 1 ? "is" : "are"} left out.` : "";
  return `A layer (or channel) settled at the step from which its change since the previous log stays below ${formatNumber(threshold)}.${unread}`;
}

/** "settled at step 40", or "still changing". */
export function settledText(step) {
  return step === null ? "still changing" : `settled at step ${step}`;
}

/** 1 - x of each value, null kept. */
export function oneMinus(values) {
  return values.map((value) => (value === null ? null : 1 - value));
}

function layerRow(layer, current, onChannel) {
  return el("div", { className: "dynamics-row", role: "listitem", "data-layer": layer.layer }, [
    el("div", { className: "dynamics-head" }, [
      el("span", { className: "layer-name", text: layer.layer }),
      el("span", { className: "dynamics-settled", text: settledText(layer.settled_step) }),
    ]),
    el("div", { className: "health-charts" }, charts(layer, current)),
    rankedChannels(layer, onChannel),
  ]);
}

function charts({ steps, change, similarity }, current) {
  if (!steps.length) return [el("p", { className: "muted", text: "No step of this layer's dynamics could be read." })];
  const drawn = [
    lineChart({ label: "Change since previous log (1 − CKA)", steps, values: oneMinus(change.cka_previous), current }),
    lineChart({ label: "CKA with first log", steps, values: change.cka_first, current, range: [0, 1] }),
    lineChart({ label: "Dead channels", steps, values: change.dead_fraction, current, range: [0, 1], format: formatPercent }),
    lineChart({ label: "Median channel drift", steps, values: change.drift, current }),
  ];
  if (similarity) drawn.push(lineChart({ label: "Filter-image similarity", steps: similarity.steps, values: similarity.values, current }));
  for (const chart of drawn) chart.classList.add("dynamics-chart");
  return drawn;
}

/** The RANKED channels that drifted most over the last logs, each a button that opens its filmstrip. */
function rankedChannels(layer, onChannel) {
  const top = layer.channels.slice(0, RANKED);
  if (!top.length) return el("p", { className: "muted", text: "No channel drift logged." });
  const tag = layer.feature_maps_tag;
  const button = ({ channel, recent_drift: recent }) =>
    el("li", {}, [
      el(
        "button",
        {
          type: "button",
          className: "dynamics-channel",
          "data-channel": channel,
          disabled: !tag,
          title: tag ? `Open channel ${channel} over training (feature maps)` : "No feature maps of this layer were logged",
          on: { click: () => onChannel({ layer: layer.layer, kind: FILMSTRIP_KIND, channel }) },
        },
        [el("span", { text: `ch ${channel}` }), el("span", { className: "dynamics-drift", text: recent === null ? "–" : formatNumber(recent) })],
      ),
    ]);
  return el("div", { className: "dynamics-channels" }, [
    el("span", { className: "legend", text: "Drifting most lately" }),
    el("ol", { className: "dynamics-ranked" }, top.map(button)),
  ]);
}
