/**
 * Left column: run selector, layer list, probe-image picker. Lists are rebuilt only when their
 * content changes and otherwise just re-marked, so keyboard focus survives every update.
 */
import { el, formatShape } from "./dom.js";

export function createSidebar({ onRun, onLayer, onProbe }) {
  const runSelect = el("select", { id: "cnnviz-run", on: { change: () => onRun(runSelect.value) } });
  const layerList = el("ul", { className: "layer-list", "aria-labelledby": "cnnviz-layers-heading" });
  const probeList = el("div", { className: "probe-list", role: "group", "aria-labelledby": "cnnviz-probes-heading" });
  const probeNote = el("p", { className: "probe-note", hidden: true, text: "This view does not depend on the probe image." });
  const element = el("aside", { className: "sidebar", "aria-label": "Data selection" }, [
    el("div", { className: "field" }, [el("label", { for: "cnnviz-run", text: "Run" }), runSelect]),
    el("h2", { id: "cnnviz-layers-heading", text: "Layers" }),
    layerList,
    el("h2", { id: "cnnviz-probes-heading", text: "Probe images" }),
    probeNote,
    probeList,
  ]);
  const drawn = { runs: null, layers: null, probes: null };

  function setRuns(runs, selected) {
    const key = JSON.stringify(runs);
    if (drawn.runs !== key) {
      drawn.runs = key;
      runSelect.replaceChildren(...runs.map((run) => el("option", { value: run, text: run })));
    }
    runSelect.value = selected;
  }

  function setLayers(layers, selected) {
    const key = JSON.stringify(layers.map((layer) => [layer.name, layer.type, layer.shape]));
    if (drawn.layers !== key) {
      drawn.layers = key;
      layerList.replaceChildren(
        ...layers.map((layer) =>
          el("li", {}, [
            el("button", { type: "button", className: "layer", "data-layer": layer.name, on: { click: () => onLayer(layer.name) } }, [
              el("span", { className: "layer-name", text: layer.name }),
              el("span", { className: "layer-meta", text: `${layer.type ?? "layer"} · ${formatShape(layer.shape)}` }),
            ]),
          ]),
        ),
      );
    }
    for (const button of layerList.querySelectorAll("button")) {
      button.toggleAttribute("aria-current", button.dataset.layer === selected);
    }
  }

  /**
   * probes: [{ label, src }] where src (thumbnail URL) may be null when no images were logged.
   * `applies` is false for views that do not depend on the probe: the picker keeps the selection
   * for when it matters again, but cannot be used.
   */
  function setProbes(probes, selected, applies = true) {
    const key = JSON.stringify(probes);
    if (drawn.probes !== key) {
      drawn.probes = key;
      probeList.replaceChildren(
        ...probes.map((probe, index) =>
          el("button", { type: "button", className: "probe", "data-probe": index, title: probe.label, on: { click: () => onProbe(index) } }, [
            probe.src ? el("img", { src: probe.src, alt: "", width: 48, height: 48 }) : null,
            el("span", { className: "probe-label", text: probe.label }),
          ]),
        ),
      );
    }
    for (const button of probeList.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.probe) === selected));
      button.disabled = !applies;
    }
    probeNote.hidden = applies;
  }

  return { element, setRuns, setLayers, setProbes };
}
