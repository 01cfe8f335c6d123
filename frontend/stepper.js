/**
 * Step navigation: slider over the logged steps (they need not be evenly spaced), previous/next
 * buttons, and Left/Right arrow keys anywhere in the tab except where they edit something.
 */
import { el } from "./dom.js";

const EDITABLE = new Set(["INPUT", "SELECT", "TEXTAREA"]); // range and radio inputs handle arrows themselves

export function createStepper({ onStep }) {
  let steps = [];
  let index = 0;

  const slider = el("input", { type: "range", id: "cnnviz-step", min: 0, max: 0, value: 0, on: { input: () => go(Number(slider.value)) } });
  const previous = el("button", { type: "button", className: "step-button", "aria-label": "Previous step", text: "‹", on: { click: () => go(index - 1) } });
  const next = el("button", { type: "button", className: "step-button", "aria-label": "Next step", text: "›", on: { click: () => go(index + 1) } });
  const readout = el("output", { className: "step-value", for: "cnnviz-step" });
  const position = el("span", { className: "step-position" });
  const element = el("div", { className: "stepper" }, [
    el("label", { for: "cnnviz-step", className: "legend", text: "Step" }),
    previous,
    slider,
    next,
    readout,
    position,
  ]);

  function go(target) {
    if (target < 0 || target >= steps.length || target === index) return;
    set(steps, steps[target]); // move at once: fast key repeats must not wait for the images
    onStep(steps[target]);
  }

  function set(newSteps, step) {
    steps = newSteps;
    index = Math.max(0, steps.indexOf(step));
    slider.max = String(Math.max(0, steps.length - 1));
    slider.value = String(index);
    slider.disabled = steps.length < 2;
    slider.setAttribute("aria-valuetext", `step ${step}`);
    previous.disabled = index <= 0;
    next.disabled = index >= steps.length - 1;
    readout.textContent = String(step);
    position.textContent = `${index + 1} of ${steps.length}`;
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const target = event.target;
    if (EDITABLE.has(target.tagName) || target.isContentEditable) return;
    event.preventDefault();
    go(index + (event.key === "ArrowRight" ? 1 : -1));
  });

  return { element, set };
}
