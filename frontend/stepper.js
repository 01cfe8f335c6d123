/**
 * Step navigation: slider over the logged steps (they need not be evenly spaced), previous/next
 * buttons, Left/Right arrow keys anywhere in the tab except where they edit something, and the
 * play/pause button with its speed.
 */
import { el } from "./dom.js";
import { SPEEDS } from "./state.js";

const EDITABLE = new Set(["INPUT", "SELECT", "TEXTAREA"]); // range and radio inputs handle arrows themselves

export function createStepper({ onStep, onPlay, onSpeed }) {
  let steps = [];
  let index = 0;

  const slider = el("input", { type: "range", id: "cnnviz-step", min: 0, max: 0, value: 0, on: { input: () => go(Number(slider.value)) } });
  const previous = el("button", { type: "button", className: "step-button", "aria-label": "Previous step", text: "‹", on: { click: () => go(index - 1) } });
  const next = el("button", { type: "button", className: "step-button", "aria-label": "Next step", text: "›", on: { click: () => go(index + 1) } });
  const readout = el("output", { className: "step-value", for: "cnnviz-step" });
  const position = el("span", { className: "step-position" });
  const play = el("button", { type: "button", className: "play", "aria-pressed": "false", on: { click: onPlay } }, [el("span", { "aria-hidden": "true", text: "▶" }), " Play"]);
  const speed = el(
    "select",
    { id: "cnnviz-speed", "aria-label": "Playback speed", on: { change: () => onSpeed(Number(speed.value)) } },
    SPEEDS.map((value) => el("option", { value, text: `${value} steps/s` })),
  );
  const element = el("div", { className: "stepper" }, [
    el("label", { for: "cnnviz-step", className: "legend", text: "Step" }),
    previous,
    slider,
    next,
    readout,
    position,
    play,
    speed,
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
    play.disabled = steps.length < 2;
    slider.setAttribute("aria-valuetext", `step ${step}`);
    previous.disabled = index <= 0;
    next.disabled = index >= steps.length - 1;
    readout.textContent = String(step);
    position.textContent = `${index + 1} of ${steps.length}`;
  }

  function setPlayback({ playing, stepsPerSecond }) {
    play.setAttribute("aria-pressed", String(playing));
    play.replaceChildren(el("span", { "aria-hidden": "true", text: playing ? "❚❚" : "▶" }), playing ? " Pause" : " Play");
    speed.value = String(stepsPerSecond);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const target = event.target;
    if (EDITABLE.has(target.tagName) || target.isContentEditable) return;
    event.preventDefault();
    go(index + (event.key === "ArrowRight" ? 1 : -1));
  });

  return { element, set, setPlayback };
}
