/**
 * The kinds of view a layer can carry (the keys of a layer's `kinds` in the runs listing).
 * The picker is built from whatever the logs hold; this tab draws the kinds in DRAWABLE_KINDS and
 * says so for the others, so new kinds ("filters", "deconv") only need a renderer here.
 */
const LABELS = { feature_maps: "Feature maps", filters: "Filters", deconv: "Deconv" };
const ORDER = Object.keys(LABELS);

export const DRAWABLE_KINDS = new Set(["feature_maps"]);

export function kindLabel(kind) {
  return LABELS[kind] ?? kind.replaceAll("_", " ");
}

/** The layer's kinds, known ones first in a fixed order, then the rest by name. */
export function layerKinds(layer) {
  const rank = (kind) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : ORDER.length);
  return Object.keys(layer.kinds).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
