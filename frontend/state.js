/**
 * The view state (run, layer, kind, probe, step, channel, norm, cmap) kept in URLs.
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

const PLUGIN_NAME = "cnnviz";
const PARENT_PREFIX = `p.${PLUGIN_NAME}.`;
const FIELDS = ["run", "layer", "kind", "probe", "step", "channel", "norm", "cmap"];

export const NORMALIZATIONS = { channel: "Per channel", layer: "Layer-wide" };

const DEFAULT_NORM = "channel";

/** Reads the state from the iframe hash if it has one, else from TensorBoard's page hash. */
export function readState() {
  const own = new URLSearchParams(location.hash.slice(1));
  if (FIELDS.some((field) => own.has(field))) return toState((field) => own.get(field));
  const parent = parentWindow();
  const mirrored = parent ? parentFields(parent) : new Map();
  return toState((field) => mirrored.get(field) ?? null);
}

export function writeState(state) {
  const entries = FIELDS.filter((field) => state[field] !== null).map((field) => [field, String(state[field])]);
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
    // Switching TensorBoard tabs also changes the hash: only follow edits aimed at this tab.
    if (activeTab(items) === PLUGIN_NAME && parentFields(parent).size > 0) callback(readState());
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
  const cmap = get("cmap");
  return {
    run: get("run"),
    layer: get("layer"),
    kind: get("kind"),
    probe: Math.max(0, integer("probe") ?? 0),
    step: integer("step"),
    channel: integer("channel"),
    norm: Object.hasOwn(NORMALIZATIONS, get("norm")) ? get("norm") : DEFAULT_NORM,
    cmap: isColormap(cmap) ? cmap : DEFAULT_COLORMAP,
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
