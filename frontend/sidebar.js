/**
 * Left column: run selector, the model entry (when the run logged model-level kinds), layer list,
 * probe-image picker. Lists are rebuilt only when their content changes and otherwise just
 * re-marked, so keyboard focus survives every update.
 */
import { el } from "./dom.js";
import { formatShape } from "./format.js";
import { kindLabel, layerKinds } from "./kinds/index.js";
import { MODEL } from "./scopes.js";

export function createSidebar({ onRun, onLayer, onProbe }) {
  const runSelect = el("select", { id: "cnnviz-run", on: { change: () => onRun(runSelect.value) } });
  const modelList = el("ul", { className: "layer-list", "aria-labelledby": "cnnviz-model-heading" });
  const modelSection = el("div", { hidden: true }, [el("h2", { id: "cnnviz-model-heading", text: "Model" }), modelList]);
  const layersHeading = el("h2", { id: "cnnviz-layers-heading", text: "Layers" });
  const layerList = el("ul", { className: "layer-list", "aria-labelledby": "cnnviz-layers-heading" });
  const probes = createProbePicker({ onProbe });
  const element = el("aside", { className: "sidebar", "aria-label": "Data selection" }, [
    el("div", { className: "field" }, [el("label", { for: "cnnviz-run", text: "Run" }), runSelect]),
    modelSection,
    layersHeading,
    layerList,
    ...probes.elements,
  ]);
  const drawn = { runs: null, layers: null };

  function setRuns(runs, selected) {
    const key = JSON.stringify(runs);
    if (drawn.runs !== key) {
      drawn.runs = key;
      runSelect.replaceChildren(...runs.map((run) => el("option", { value: run, text: run })));
    }
    runSelect.value = selected;
  }

  /** `model`: the runs listing's model entry ({ kinds }) or null; `selected`: a layer's name or MODEL. */
  function setLayers(layers, selected, model = null) {
    const modelKinds = model ? layerKinds(model).map(kindLabel) : null;
    const key = JSON.stringify([modelKinds, layers.map((layer) => [layer.name, layer.type, layer.shape])]);
    if (drawn.layers !== key) {
      drawn.layers = key;
      modelSection.hidden = !model;
      layersHeading.hidden = layers.length === 0; // a run may log model-level kinds only
      modelList.replaceChildren(...(model ? [entry(MODEL, "Whole model", modelKinds.join(" · "))] : []));
      layerList.replaceChildren(...layers.map((layer) => entry(layer.name, layer.name, `${layer.type ?? "layer"} · ${formatShape(layer.shape)}`)));
    }
    for (const button of element.querySelectorAll("button.layer")) {
      button.toggleAttribute("aria-current", button.dataset.layer === selected);
    }
  }

  function entry(value, name, meta) {
    return el("li", {}, [
      el("button", { type: "button", className: "layer", "data-layer": value, on: { click: () => onLayer(value) } }, [
        el("span", { className: "layer-name", text: name }),
        el("span", { className: "layer-meta", text: meta }),
      ]),
    ]);
  }

  return { element, setRuns, setLayers, setProbes: probes.set };
}

/** The probe-image picker: a heading, a note (why it does not apply) and a button per probe image. */
function createProbePicker({ onProbe }) {
  const probeList = el("div", { className: "probe-list", role: "group", "aria-labelledby": "cnnviz-probes-heading" });
  const probeNote = el("p", { className: "probe-note", hidden: true });
  let drawn = null;

  /**
   * probes: [{ label, src }] where src (thumbnail URL) may be null when no images were logged.
   * `applies` is false for views that do not depend on the probe or show every probe at once: the
   * picker keeps the selection for when it matters again, but cannot be used; `note` says why.
   */
  function set(probes, selected, applies = true, note = "This view does not depend on the probe image.") {
    const key = JSON.stringify(probes);
    if (drawn !== key) {
      drawn = key;
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
    probeNote.textContent = note;
  }

  return { elements: [el("h2", { id: "cnnviz-probes-heading", text: "Probe images" }), probeNote, probeList], set };
}
