/**
 * The view state kept in URLs: what is shown (run, layer, kind, probe, step, channel), how (norm,
 * cmap), which panel (channels or layer health) and which health view (overview or dynamics), the
 * filmstrip's frame count, what the view is compared with (compare = "step" | "run" with otherStep /
 * otherRun, diff, align: channels matched by correlation) and the playback speed.
 * Whether playback runs is not kept: a shared link should not start moving on its own.
 *
 * Two places hold it:
 * - the iframe's own hash (`#run=a&layer=conv1&step=4`), for the tab page opened on its own;
 * - TensorBoard's page hash, as `p.cnnviz.<key>=<value>` items next to TensorBoard's own `#cnnviz`
 *   tab item. TensorBoard's hash storage already uses `&key=value` items and the `p.<plugin>.`
 *   prefix for plugin keys, and rewrites the hash without dropping keys it does not know, so
 *   reloading or sharing the TensorBoard URL restores the view. Both are written with
 *   history.replaceState: no history entry per slider move and no hashchange for TensorBoard.
 */
import { DEFAULT_COLORMAP, isColormap } from "./colormaps.js";
import { PLUGIN_NAME } from "./contract.js";

const PARENT_PREFIX = `p.${PLUGIN_NAME}.`;
const FIELDS = ["run", "layer", "kind", "probe", "step", "channel", "norm", "cmap", "panel", "health", "frames", "compare", "otherStep", "otherRun", "diff", "align", "speed"];

export const NORMALIZATIONS = { channel: "Per channel", layer: "Layer-wide" };
export const PANELS = { channels: "Channels", health: "Layer health" };
export const HEALTH_VIEWS = { overview: "Overview", dynamics: "Dynamics" };
export const COMPARISONS = { step: "Another step", run: "Another run" };
export const SPEEDS = [1, 2, 4, 8]; // steps per second
export const FRAME_COUNTS = [8, 16, 32]; // evenly spaced filmstrip frames; 0 = every step

const DEFAULTS = { norm: "channel", panel: "channels", health: "overview", frames: 8, speed: 2 };

/** Reads the state from the iframe hash if it has one, else from TensorBoard's page hash. */
export function readState() {
  const own = new URLSearchParams(location.hash.slice(1));
  if (FIELDS.some((field) => own.has(field))) return toState((field) => own.get(field));
  const parent = parentWindow();
  const mirrored = parent ? parentFields(parent) : new Map();
  return toState((field) => mirrored.get(field) ?? null);
}

export function writeState(state) {
  const kept = (field) => state[field] !== null && state[field] !== false && state[field] !== DEFAULTS[field];
  const entries = FIELDS.filter(kept).map((field) => [field, String(state[field])]);
  const own = new URL(location.href); // absolute: a bare "#..." would resolve against <base href>
  own.hash = new URLSearchParams(entries).toString();
  if (own.href !== location.href) history.replaceState(history.state, "", own.href);
  mirrorToParent(entries);
}

/** Calls back with the new state when someone edits either URL by hand (not on our own writes). */
export function onExternalChange(callback) {
  window.addEventListener("hashchange", () => callback(readState()));
  const parent = parentWindow();
  parent?.addEventListener("hashchange", () => {
    const items = hashItems(parent);
    // Switching TensorBoard tabs also changes the hash: only follow edits aimed at this tab. The
    // edited page hash wins over the iframe's own, which still holds the state before the edit.
    const mirrored = parentFields(parent);
    if (activeTab(items) === PLUGIN_NAME && mirrored.size > 0) callback(toState((field) => mirrored.get(field) ?? null));
  });
}

export function sameState(a, b) {
  return FIELDS.every((field) => a[field] === b[field]);
}

function toState(get) {
  const integer = (field) => {
    const text = get(field);
    return text !== null && /^-?\d+$/.test(text) ? Number(text) : null;
  };
  const oneOf = (field, choices, fallback) => (Object.hasOwn(choices, get(field)) ? get(field) : fallback);
  const cmap = get("cmap");
  const frames = integer("frames");
  const speed = integer("speed");
  return {
    run: get("run"),
    layer: get("layer"),
    kind: get("kind"),
    probe: Math.max(0, integer("probe") ?? 0),
    step: integer("step"),
    channel: integer("channel"),
    norm: oneOf("norm", NORMALIZATIONS, DEFAULTS.norm),
    cmap: isColormap(cmap) ? cmap : DEFAULT_COLORMAP,
    panel: oneOf("panel", PANELS, DEFAULTS.panel),
    health: oneOf("health", HEALTH_VIEWS, DEFAULTS.health),
    frames: frames === 0 || FRAME_COUNTS.includes(frames) ? frames : DEFAULTS.frames,
    compare: oneOf("compare", COMPARISONS, null),
    otherStep: integer("otherStep"),
    otherRun: get("otherRun"),
    diff: get("diff") === "true",
    align: get("align") === "true",
    speed: SPEEDS.includes(speed) ? speed : DEFAULTS.speed,
  };
}

/** TensorBoard's window when it is ours to touch (same origin); null when standalone or foreign. */
function parentWindow() {
  if (window.parent === window) return null;
  try {
    void window.parent.location.href; // throws for a cross-origin parent
    return window.parent;
  } catch {
    return null;
  }
}

function hashItems(win) {
  return win.location.hash.slice(1).split("&").filter(Boolean);
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** TensorBoard's hash storage: the one item without "=" names the active tab. */
function activeTab(items) {
  return items.find((item) => !item.includes("=")) ?? null;
}

function parentFields(parent) {
  const fields = new Map();
  for (const item of hashItems(parent)) {
    const [key, value, ...rest] = item.split("=");
    if (value === undefined || rest.length) continue;
    const name = decode(key);
    if (name.startsWith(PARENT_PREFIX)) fields.set(name.slice(PARENT_PREFIX.length), decode(value));
  }
  return fields;
}

function mirrorToParent(entries) {
  const parent = parentWindow();
  if (!parent) return;
  const items = hashItems(parent);
  // TensorBoard keeps the iframes of other tabs alive; a late write must not touch their URL.
  if (activeTab(items) !== PLUGIN_NAME) return;
  const kept = items.filter((item) => !decode(item.split("=")[0]).startsWith(PARENT_PREFIX));
  const ours = entries.map(([field, value]) => `${PARENT_PREFIX}${field}=${encodeURIComponent(value)}`);
  const hash = `#${[...kept, ...ours].join("&")}`;
  if (parent.location.hash === hash) return;
  const url = new URL(parent.location.href);
  url.hash = hash;
  parent.history.replaceState(parent.history.state, "", url.href);
}
