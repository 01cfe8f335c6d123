/**
 * What the tab shows for a view state and the runs listing, decided before anything is fetched or drawn:
 * which run, which scope (a layer or the model), which kind, which view draws it, which tags to fetch and
 * what to compare with. Pure (no DOM, no requests), so tests run it in node.
 */
import { kindLabel, kindOf, layerKinds } from "./kinds/index.js";
import { findScope, modelScope, scopePhrase, scopeTitle } from "./scopes.js";

/**
 * The plan for `state` (state.js) over `runs` (the runs route's list):
 *   { show: "empty" } when nothing is logged, else
 *   { show, run, runNames, scope, kinds, kindName, kind, tag, stepsTag, otherRuns, compare, message, state }
 * show: "grid" | "top" | "health" | "message" (`message` says why nothing else can be shown);
 * runNames: every run's name, in the listing's order; tag: the kind's tag; stepsTag: the tag whose steps navigate it; otherRuns: the runs listing's other
 * runs; compare: null or { mode: "step" | "run", run (the compared run's listing), tag (its tag of the
 * kind, null when it has none) };
 * state: the fields the plan settles (run, layer, kind, otherRun), to merge into the state.
 */
export function planView(state, runs) {
  if (runs.length === 0) return { show: "empty" };
  const run = runs.find((candidate) => candidate.run === state.run) ?? runs[0];
  const runNames = runs.map((candidate) => candidate.run);
  // The selected layer or the model's entry; a run opens on its first layer.
  const scope = findScope(run, state.layer) ?? run.layers[0] ?? modelScope(run);
  if (!scope) return { show: "message", run, runNames, kinds: [], message: `Run “${run.run}” has no layers logged yet.`, state: { run: run.run } };
  const kinds = layerKinds(scope);
  const kindName = kinds.includes(state.kind) ? state.kind : kinds[0];
  const kind = kindOf(kindName);
  const tag = scope.kinds[kindName];
  // A kind logged only every few steps is navigated by the steps of the kind it goes with.
  // A scope whose only kinds have no pictures (dynamics) is still navigated by their steps in layer health.
  const stepsTag = (kind?.stepsOf && scope.kinds[kind.stepsOf]) || tag || Object.values(scope.kinds)[0];
  const settled = { run: run.run, layer: scope.name, kind: kindName };
  const plan = { run, runNames, scope, kinds, kindName, kind, tag, stepsTag, otherRuns: [], compare: null, message: null, state: settled };
  if (state.panel === "health") return { ...plan, show: "health" };
  if (!kindName) return { ...plan, show: "message", message: `${scopeTitle(scope)} logged no pictures; see Layer health › Dynamics.` };
  if (!kind) return { ...plan, show: "message", message: `This version of CNN Viz cannot draw “${kindLabel(kindName)}” yet.` };
  if (kind.view !== "grid") return { ...plan, show: kind.view };
  const otherRuns = runs.filter((candidate) => candidate.run !== run.run);
  const compare = comparison(state, otherRuns, plan);
  const otherRun = compare?.mode === "run" ? compare.run.run : state.otherRun;
  return { ...plan, show: "grid", otherRuns, compare, state: { ...settled, otherRun } };
}

/** What the grid is compared with: null, another step of the run, or the same step of another run. */
function comparison(state, otherRuns, { run, scope, kindName, tag }) {
  if (state.compare === "step") return { mode: "step", run, tag };
  if (state.compare !== "run" || otherRuns.length === 0) return null;
  const other = otherRuns.find((candidate) => candidate.run === state.otherRun) ?? otherRuns[0];
  return { mode: "run", run: other, tag: findScope(other, scope.name)?.kinds[kindName] ?? null };
}

/** The logged step closest to `wanted` (the last one when nothing is wanted). */
export function nearestStep(steps, wanted) {
  if (wanted === null) return steps[steps.length - 1];
  return steps.reduce((best, step) => (Math.abs(step - wanted) < Math.abs(best - wanted) ? step : best));
}

/** The step to show of `steps` for the wanted one, and a notice when it is another. */
export function planStep(plan, steps, wanted) {
  if (steps.length === 0) return { step: null, message: `No steps logged for ${plan.stepsTag} yet.` };
  const step = nearestStep(steps, wanted);
  const message = wanted !== null && step !== wanted ? `Step ${wanted} is not logged for ${scopePhrase(plan.scope)}; showing step ${step}.` : null;
  return { step, message };
}

/** The probe to ask for before the info confirms it: the selected one, clamped to the run's probe count for kinds drawn per probe. */
export function guessedProbe(kind, run, probe) {
  const count = run.probes?.count ?? 0;
  return kind.perProbe && count ? Math.min(probe, count - 1) : probe;
}
