/**
 * Controls for what the main area shows and how: panel (channels or layer health), kind of view,
 * normalization, colormap, comparison; plus reload (TensorBoard's own reload does not reach plugin
 * iframes) and export buttons.
 */
import { COLORMAPS } from "./colormaps.js";
import { el } from "./dom.js";
import { kindLabel } from "./kinds/index.js";
import { NORMALIZATIONS, PANELS } from "./state.js";

function radioGroup(legend, name, onChange) {
  const options = el("div", { className: "segmented" });
  const element = el("fieldset", { className: "control" }, [el("legend", { text: legend }), options]);
  let drawn = null;
  function set(choices, selected) {
    const key = JSON.stringify(choices);
    if (drawn !== key) {
      drawn = key;
      options.replaceChildren(
        ...choices.map(([value, label]) => {
          const input = el("input", { type: "radio", name, value, on: { change: () => onChange(value) } });
          return el("label", {}, [input, el("span", { text: label })]);
        }),
      );
    }
    for (const input of options.querySelectorAll("input")) input.checked = input.value === selected;
  }
  return { element, set };
}

export function createToolbar({ onPanel, onKind, onNorm, onColormap, onReload, onExport, compareControls }) {
  const panels = radioGroup("Show", "cnnviz-panel", onPanel);
  const kinds = radioGroup("View", "cnnviz-kind", onKind);
  const norms = radioGroup("Normalize", "cnnviz-norm", onNorm);
  norms.set(Object.entries(NORMALIZATIONS), null);
  const colormapSelect = el(
    "select",
    { id: "cnnviz-cmap", on: { change: () => onColormap(colormapSelect.value) } },
    Object.entries(COLORMAPS).map(([value, { label }]) => el("option", { value, text: label })),
  );
  const element = el("div", { className: "toolbar", role: "group", "aria-label": "Display options" }, [
    panels.element,
    kinds.element,
    norms.element,
    el("div", { className: "control" }, [el("label", { for: "cnnviz-cmap", className: "legend", text: "Colormap" }), colormapSelect]),
    compareControls,
    el("div", { className: "actions" }, [
      el("button", { type: "button", className: "export", title: "Download what is shown as a PNG image", on: { click: onExport } }, [
        el("span", { "aria-hidden": "true", text: "⤓ " }),
        "Export PNG",
      ]),
      el("button", { type: "button", className: "reload", title: "Reload runs and steps", on: { click: onReload } }, [el("span", { "aria-hidden": "true", text: "⟳ " }), "Reload"]),
    ]),
  ]);

  /** `looks`: which look controls apply to what is shown ({ norm, cmap }); the others are disabled. */
  function set({ panel, kindChoices, kind, norm, cmap, looks }) {
    panels.set(Object.entries(PANELS), panel);
    kinds.set(
      kindChoices.map((choice) => [choice, kindLabel(choice)]),
      kind,
    );
    norms.set(Object.entries(NORMALIZATIONS), norm);
    colormapSelect.value = cmap;
    if (looks) {
      norms.element.disabled = !looks.norm;
      colormapSelect.disabled = !looks.cmap;
    }
  }

  return { element, set };
}
