/**
 * What each view needs from the plugin for a plan (view-plan.js), loaded in parallel where it can be:
 * data only (decoded atlases, infos, probe choices), no drawing.
 */
import * as api from "./api.js";
import { FIRST_PICTURE_BLOB } from "./contract.js";
import { readGraph } from "./kinds/explanatory-graph.js";
import { guessedProbe } from "./view-plan.js";

const PRELOAD_DISTANCE = 2; // steps on each side whose atlases load in the background

/**
 * The grid's step: its info, the atlas of the selected probe (clamped to the step's probes), the probe
 * choices and the decoded probe image when the kind draws patches of it.
 * The info, the atlas and the probe thumbnails load in parallel: the atlas is asked for with the
 * selected probe (clamped to the run's probe count), which is what the info confirms in all but odd
 * logs; a mismatch fetches the right one after.
 */
export async function loadShown({ run, kind, tag }, wantedProbe, step) {
  const guessedSource = api.imageUrl(run.run, tag, step, kind.imageIndex(guessedProbe(kind, run, wantedProbe)));
  const guessedAtlas = api.fetchPixels(guessedSource);
  guessedAtlas.catch(() => {}); // surfaces below when it is the atlas shown
  const [info, loggedProbes] = await Promise.all([api.fetchInfo(run.run, tag, step), probeChoices(run, run.probes?.count ?? 0)]);
  // Kinds without probes keep the selection for when the user switches back.
  const probeCount = kind.perProbe ? info.probes : (run.probes?.count ?? 0);
  const probe = kind.perProbe ? Math.min(wantedProbe, info.probes - 1) : wantedProbe;
  const probes = probeCount === loggedProbes.length ? loggedProbes : await probeChoices(run, probeCount);
  const imageIndex = kind.imageIndex(probe);
  const source = api.imageUrl(run.run, tag, step, imageIndex);
  const probeInfo = kind.perProbe ? probes[probe] : null;
  const [atlas, probeImage] = await Promise.all([source === guessedSource ? guessedAtlas : api.fetchPixels(source), probePixels(kind, probeInfo)]);
  return { info, atlas, probe, probes, imageIndex, source, probeInfo, probeImage };
}

/** The compared grid's info, atlas and probe image (`other` = { run, tag, step }; `runListing`: its run's listing). */
export async function loadCompared({ kind, shown, runListing }, other, probe) {
  const source = api.imageUrl(other.run, other.tag, other.step, kind.imageIndex(probe));
  // Another run may have logged other probe images: its patches come from its own.
  const probeInfo = other.run === shown.run ? shown.probeInfo : kind.perProbe ? (await probeChoices(runListing, probe + 1))[probe] : null;
  const [info, atlas, probeImage] = await Promise.all([api.fetchInfo(other.run, other.tag, other.step), api.fetchPixels(source), probePixels(kind, probeInfo)]);
  return { info, atlas, probeImage, probeInfo, source };
}

/**
 * The dataset's top patches of `tag` from the latest step at or before `step` that has them (`logged`:
 * the tag's steps): [info, patches, projections] and that step, or null before the first.
 */
export async function loadTop({ run, tag, kind }, logged, step) {
  const loggedStep = logged.filter((candidate) => candidate <= step).pop() ?? null;
  if (loggedStep === null) return null;
  const url = (index) => api.imageUrl(run.run, tag, loggedStep, index);
  const [info, patches, projections] = await Promise.all([
    api.fetchInfo(run.run, tag, loggedStep),
    api.fetchPixels(url(kind.patchesIndex)),
    api.fetchPixels(url(kind.projectionsIndex)),
  ]);
  return { info, patches, projections, loggedStep, source: url(kind.patchesIndex) };
}

/**
 * A step of the explanatory graph: { graph, atlases (picture index -> ImageData), source } or, when its
 * info or an atlas cannot be read, { failure } saying why; only that step is lost.
 */
export async function loadGraph({ run, tag }, step) {
  try {
    const graph = readGraph(await api.fetchInfo(run.run, tag, step));
    const pictures = [...graph.atlases.values()].map((atlas) => atlas.picture);
    const decoded = await Promise.all(pictures.map((index) => api.fetchPixels(api.imageUrl(run.run, tag, step, index))));
    return { graph, atlases: new Map(pictures.map((index, at) => [index, decoded[at]])), source: api.imageUrl(run.run, tag, step, FIRST_PICTURE_BLOB) };
  } catch (error) {
    return { failure: `Step ${step} cannot be read: ${error.message}`, source: "" };
  }
}

/** The run's probe images as { label, image } (decoded; image null where the run logged none), for the graph's heat maps. */
export async function probeImages(run) {
  const choices = await probeChoices(run, run.probes?.count ?? 0);
  const images = await Promise.all(choices.map((choice) => (choice.src ? api.fetchPixels(choice.src).catch(() => null) : null)));
  return choices.map((choice, index) => ({ label: choice.label, image: images[index] }));
}

/** The decoded probe image when the kind draws patches of it, else null. */
export function probePixels(kind, probeInfo) {
  return kind.drawPatch && probeInfo?.src ? api.fetchPixels(probeInfo.src) : Promise.resolve(null);
}

/** [{ label, src }] per probe image; thumbnails come from the run's probes tag when logged. */
export async function probeChoices(run, count) {
  const logged = run.probes;
  let step = logged?.step;
  if (logged && step === undefined) step = (await api.fetchSteps(run.run, logged.tag))[0];
  return Array.from({ length: count }, (_, index) => ({
    label: logged?.labels?.[index] ?? `Probe ${index + 1}`,
    src: logged && step !== undefined ? api.imageUrl(run.run, logged.tag, step, FIRST_PICTURE_BLOB + index) : null,
  }));
}

/** Infos and atlases of the steps around `step`, so stepping and playback find them loaded. */
export function preloadNeighbours(run, tag, steps, step, imageIndex) {
  const index = steps.indexOf(step);
  for (let distance = 1; distance <= PRELOAD_DISTANCE; distance++) {
    for (const neighbour of [steps[index + distance], steps[index - distance]]) {
      if (neighbour === undefined) continue;
      api.fetchInfo(run, tag, neighbour).catch(() => {}); // failures surface when the step is shown
      api.fetchPixels(api.imageUrl(run, tag, neighbour, imageIndex)).catch(() => {});
    }
  }
}
