/**
 * What a view belongs to: one layer, or the model as a whole (saliency, class images, ...). Both
 * have the shape { name, kinds } of the runs listing's layers, so the controller steps, compares and
 * exports them alike; the model's entry is named "(model)" in the URL, which no layer listing uses.
 */
import { MODEL_SCOPE } from "./contract.js";

export const MODEL = `(${MODEL_SCOPE})`;

/** The run's model-level kinds as an entry beside its layers; null when it logged none. */
export function modelScope(run) {
  return run.model ? { name: MODEL, kinds: run.model.kinds } : null;
}

/** The run's entry called `name` (the model or a layer), or null. */
export function findScope(run, name) {
  if (name === MODEL) return modelScope(run);
  return run.layers.find((layer) => layer.name === name) ?? null;
}

/** "Model" or "Layer conv1": how titles name it. */
export function scopeTitle(scope) {
  return scope.name === MODEL ? "Model" : `Layer ${scope.name}`;
}

/** "the model" or "layer conv1": how sentences name it. */
export function scopePhrase(scope) {
  return scope.name === MODEL ? "the model" : `layer ${scope.name}`;
}
