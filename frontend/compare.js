/**
 * Comparing the shown step with another step of the same run, or with the same step of another
 * run: the controls, and the signed difference of two feature-map atlases as a kind-shaped view
 * (kinds/kind.js), so the grid draws it like any other kind.
 */
import { tileBox } from "./atlas.js";
import { lookupTable, SIGNED } from "./colormaps.js";
import { el } from "./dom.js";
import { formatNumber } from "./format.js";
import { withDefaults } from "./kinds/kind.js";
import { COMPARISONS } from "./state.js";

export function createCompareControls({ onCompare, onOtherStep, onOtherRun, onDiff, onAlign }) {
  const mode = el("select", { id: "cnnviz-compare", on: { change: () => onCompare(mode.value || null) } }, [
    el("option", { value: "", text: "Off" }),
    ...Object.entries(COMPARISONS).map(([value, text]) => el("option", { value, text })),
  ]);
  const otherStep = el("select", { id: "cnnviz-other-step", "aria-label": "Step to compare with", on: { change: () => onOtherStep(Number(otherStep.value)) } });
  const otherRun = el("select", { id: "cnnviz-other-run", "aria-label": "Run to compare with", on: { change: () => onOtherRun(otherRun.value) } });
  const diff = el("input", { type: "checkbox", id: "cnnviz-diff", on: { change: () => onDiff(diff.checked) } });
  const diffLabel = el("label", { className: "check", for: "cnnviz-diff" }, [diff, " Difference"]);
  const align = el("input", { type: "checkbox", id: "cnnviz-align", on: { change: () => onAlign(align.checked) } });
  const alignLabel = el("label", { className: "check", for: "cnnviz-align" }, [align, " Align channels"]);
  const element = el("div", { className: "control compare-control" }, [
    el("label", { for: "cnnviz-compare", className: "legend", text: "Compare with" }),
    el("div", { className: "compare-row" }, [mode, otherStep, otherRun, diffLabel, alignLabel]),
  ]);

  /** Reflect the state; option lists are rebuilt only when they change, so focus survives. */
  function set({ compare, steps, step, runs, run, diff: diffOn, diffAvailable, align: alignOn = false, alignAvailable = false, disabled = false }) {
    mode.value = compare ?? "";
    mode.disabled = disabled;
    mode.title = disabled ? "Not available for this view" : "";
    fill(otherStep, steps.map(String));
    otherStep.value = String(step);
    otherStep.hidden = compare !== "step";
    fill(otherRun, runs);
    otherRun.value = run ?? "";
    otherRun.hidden = compare !== "run";
    diff.checked = diffOn;
    diffLabel.hidden = !compare;
    diff.disabled = !diffAvailable;
    diffLabel.title = diffAvailable ? "Signed difference: shown minus compared" : "Only feature maps of equal tile size subtract";
    align.checked = alignOn;
    alignLabel.hidden = !compare;
    align.disabled = !alignAvailable;
    alignLabel.title = alignAvailable ? "Match channels one to one by the correlation of their maps on the shared probe images" : "Only feature maps align";
  }

  return { element, set };
}

function fill(select, values) {
  const key = JSON.stringify(values);
  if (select.dataset.options === key) return;
  select.dataset.options = key;
  select.replaceChildren(...values.map((value) => el("option", { value, text: value })));
}

/** Activation of every pixel of tile `position` of a feature-map atlas (contract: lo + v/255*(hi-lo)). */
function activations(atlas, info, probe, position) {
  const { x0, y0, width, height } = tileBox(info, position);
  const [lo, hi] = info.tile_range[probe][position];
  const values = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) values[y * width + x] = lo + (atlas.data[((y0 + y) * atlas.width + x0 + x) * 4] / 255) * (hi - lo);
  }
  return values;
}

/**
 * The shown feature maps minus the compared ones (`other` = { info, atlas }), channel by channel,
 * on one symmetric scale for the whole layer so tiles compare; null when the tiles differ in size.
 */
export function differenceView(shown, other, probe) {
  if (JSON.stringify(shown.info.tile) !== JSON.stringify(other.info.tile)) return null;
  const differences = shown.info.channels.map((channel, position) => {
    const otherPosition = other.info.channels.indexOf(channel);
    if (otherPosition < 0) return null;
    const a = activations(shown.atlas, shown.info, probe, position);
    const b = activations(other.atlas, other.info, probe, otherPosition);
    return a.map((value, i) => value - b[i]);
  });
  let largest = 0;
  for (const values of differences) for (const value of values ?? []) largest = Math.max(largest, Math.abs(value));
  const lut = lookupTable(SIGNED);
  const meanOf = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return withDefaults({
    label: "Difference",
    perProbe: true,
    channels: () => shown.info.channels,
    looks: () => ({ norm: false, cmap: false }),
    drawTile(atlas, info, _probe, position) {
      const [height, width] = info.tile;
      const tile = new ImageData(width, height);
      const values = differences[position] ?? new Float32Array(width * height);
      values.forEach((value, i) => {
        const index = largest > 0 ? Math.round(128 + (value / largest) * (value < 0 ? 128 : 127)) : 128;
        tile.data.set(lut.subarray(index * 3, index * 3 + 3), i * 4);
        tile.data[i * 4 + 3] = 255;
      });
      return tile;
    },
    details: (info, _probe, position) =>
      differences[position]
        ? [
            ["mean difference", formatNumber(meanOf(differences[position]))],
            ["largest", formatNumber(Math.max(...differences[position].map(Math.abs)))],
          ]
        : [["not logged in the compared view", ""]],
    scale: () => [formatNumber(-largest), `+${formatNumber(largest)}`],
    largest,
  });
}
