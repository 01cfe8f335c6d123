/**
 * The tab's copy of tb_cnnviz/contract.py, the one contract between the writer, the plugin and the
 * tab: the same names with the same values (tests/test_contract_mirror.py checks that they agree).
 * Keys that one kind alone writes and reads live in that kind's module in kinds/, not here.
 */
export const PLUGIN_NAME = "cnnviz";

/** Version of the metadata and info layout the writer of this release writes (readers accept older ones). */
export const VERSION = 2;

/** Scope of the model-level kinds (saliency, class images, ...): they are logged under "model/<kind>". */
export const MODEL_SCOPE = "model";
/** The probe images, logged once under this tag and kind. */
export const PROBES_TAG = "probes";
export const PROBES_KIND = "probes";

/** The keys of a summary's metadata content (what the runs listing is built from). */
export const CONTENT_KEYS = Object.freeze(["version", "kind", "scope", "layer", "layer_index", "layer_type", "shape", "count", "labels"]);
/** The keys every info blob shares; a kind adds its own beside them. */
export const INFO_KEYS = Object.freeze(["version", "kind", "channels", "tile", "grid", "probes", "series", "scalars"]);

/** Blob layout of every step: the info (JSON) first, then the kind's PNG pictures (atlases) in its order. */
export const INFO_BLOB = 0;
export const FIRST_PICTURE_BLOB = 1;
