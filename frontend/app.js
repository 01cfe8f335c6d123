/**
 * The tab's controller: holds the view state, asks the api for what it names, hands results to the
 * views, and writes the state back to the URL. Every change runs update(); an update that a newer
 * one overtook drops its results, so fast slider moves never paint stale steps.
 */
import * as api from "./api.js";
import { el } from "./dom.js";
import { createGrid } from "./grid.js";
import { kindLabel, kindOf, layerKinds } from "./kinds.js";
import { createLightbox } from "./lightbox.js";
import { emptyLogdirHelp, errorBanner, notice } from "./messages.js";
import { createSidebar } from "./sidebar.js";
import { onExternalChange, readState, sameState, writeState } from "./state.js";
import { createStepper } from "./stepper.js";
import { createToolbar } from "./toolbar.js";

const PRELOAD_DISTANCE = 2; // steps on each side whose atlases load in the background

export function createApp(root) {
  let state = readState();
  let generation = 0;
  let shown = null; // what the grid currently shows, for the lightbox

  const set = (patch) => {
    state = { ...state, ...patch };
    update();
  };
  const reload = () => {
    api.forgetListings();
    update();
  };

  const sidebar = createSidebar({
    onRun: (run) => set({ run }),
    onLayer: (layer) => set({ layer }),
    onProbe: (probe) => set({ probe }),
  });
  const toolbar = createToolbar({
    onKind: (kind) => set({ kind }),
    onNorm: (norm) => set({ norm }),
    onColormap: (cmap) => set({ cmap }),
    onReload: reload,
  });
  const stepper = createStepper({ onStep: (step) => set({ step }) });
  const grid = createGrid({ onOpen: (channel) => set({ channel }) });
  const lightbox = createLightbox({
    onClose: () => {
      if (state.channel !== null) set({ channel: null });
    },
  });
  const title = el("h1", { className: "view-title" });
  const status = el("div", { className: "status" });
  const main = el("main", { className: "content" }, [
    el("div", { className: "controls" }, [toolbar.element, stepper.element]),
    title,
    status,
    grid.element,
  ]);
  const empty = el("div", { className: "empty-wrap", hidden: true }, [emptyLogdirHelp(reload)]);
  root.append(sidebar.element, main, empty, lightbox.element);

  onExternalChange((next) => {
    if (!sameState(next, state)) {
      state = next;
      update();
    }
  });

  function say(...messages) {
    status.replaceChildren(...messages);
  }

  function showEmpty(isEmpty) {
    empty.hidden = !isEmpty;
    sidebar.element.hidden = isEmpty;
    main.hidden = isEmpty;
  }

  async function update() {
    const token = ++generation;
    const overtaken = () => token !== generation;
    grid.setBusy(true);
    say();
    try {
      const runs = await api.fetchRuns();
      if (overtaken()) return;
      showEmpty(runs.length === 0);
      if (runs.length === 0) return;

      const run = runs.find((candidate) => candidate.run === state.run) ?? runs[0];
      sidebar.setRuns(runs.map((candidate) => candidate.run), run.run);
      const layer = run.layers.find((candidate) => candidate.name === state.layer) ?? run.layers[0];
      if (!layer) return say(notice(`Run “${run.run}” has no layers logged yet.`));
      sidebar.setLayers(run.layers, layer.name);
      const kinds = layerKinds(layer);
      const kindName = kinds.includes(state.kind) ? state.kind : kinds[0];
      const kind = kindOf(kindName);
      state = { ...state, run: run.run, layer: layer.name, kind: kindName };
      toolbar.set({ kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap });
      writeState(state);
      grid.element.hidden = !kind;
      if (!kind) return say(notice(`This version of CNN Viz cannot draw “${kindLabel(kindName)}” yet.`));

      const tag = layer.kinds[kindName];
      const steps = await api.fetchSteps(run.run, tag);
      if (overtaken()) return;
      grid.element.hidden = steps.length === 0;
      if (steps.length === 0) return say(notice(`No steps logged for ${tag} yet.`));
      const step = nearestStep(steps, state.step);
      stepper.set(steps, step);

      const info = await api.fetchInfo(run.run, tag, step);
      if (overtaken()) return;
      // Kinds without probes keep the selection for when the user switches back.
      const probeCount = kind.perProbe ? info.probes : (run.probes?.count ?? 0);
      const probe = kind.perProbe ? Math.min(state.probe, info.probes - 1) : state.probe;
      const probes = await probeChoices(run, probeCount);
      if (overtaken()) return;
      sidebar.setProbes(probes, probe, kind.perProbe);

      const source = api.imageUrl(run.run, tag, step, kind.imageIndex(probe));
      const atlas = await api.fetchPixels(source);
      if (overtaken()) return;
      if (state.step !== null && step !== state.step) {
        say(notice(`Step ${state.step} is not logged for ${layer.name}; showing step ${step}.`));
      }
      state = { ...state, step, probe };
      writeState(state);
      const looks = kind.looks(info, atlas);
      toolbar.set({ kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap, looks });
      const look = { norm: looks.norm ? state.norm : "channel", cmap: looks.cmap ? state.cmap : "grey" };
      const probeInfo = kind.perProbe ? probes[probe] : null;
      title.replaceChildren(
        el("span", { className: "title-layer", text: `Layer ${layer.name}` }),
        el("span", { className: "title-meta", text: [kind.label, probeInfo?.label, `step ${step}`].filter(Boolean).join(" · ") }),
      );
      const total = layer.shape?.[0] ?? info.channels.length;
      grid.draw({ kind, info, atlas, probe, look, total, source, step });
      shown = { kind, info, atlas, probe, look, step, layer: layer.name, probeInfo };
      syncLightbox();
      preloadNeighbours(run.run, tag, steps, step, kind.imageIndex(probe));
    } catch (error) {
      if (!overtaken()) say(errorBanner(error));
    } finally {
      if (!overtaken()) grid.setBusy(false);
    }
  }

  function syncLightbox() {
    if (state.channel === null) return lightbox.close();
    const opened = lightbox.show({
      ...shown,
      channel: state.channel,
      heading: `Layer ${shown.layer} · ${shown.kind.label} · channel ${state.channel} · step ${shown.step}`,
      probeSrc: shown.probeInfo?.src ?? null,
      probeLabel: shown.probeInfo?.label ?? null,
    });
    if (!opened) {
      // The channel is not logged for this layer (e.g. after switching layers): forget it.
      state = { ...state, channel: null };
      lightbox.close();
      writeState(state);
    }
  }

  update();
}

/** The logged step closest to `wanted` (the last one when nothing is wanted). */
function nearestStep(steps, wanted) {
  if (wanted === null) return steps[steps.length - 1];
  return steps.reduce((best, step) => (Math.abs(step - wanted) < Math.abs(best - wanted) ? step : best));
}

/** [{ label, src }] per probe image; thumbnails come from the run's "probes" tag when logged. */
async function probeChoices(run, count) {
  const logged = run.probes;
  let step = logged?.step;
  if (logged && step === undefined) step = (await api.fetchSteps(run.run, logged.tag))[0];
  return Array.from({ length: count }, (_, index) => ({
    label: logged?.labels?.[index] ?? `Probe ${index + 1}`,
    src: logged && step !== undefined ? api.imageUrl(run.run, logged.tag, step, index + 1) : null,
  }));
}

function preloadNeighbours(run, tag, steps, step, imageIndex) {
  const index = steps.indexOf(step);
  for (let distance = 1; distance <= PRELOAD_DISTANCE; distance++) {
    for (const neighbour of [steps[index + distance], steps[index - distance]]) {
      if (neighbour === undefined) continue;
      api.fetchInfo(run, tag, neighbour).catch(() => {}); // failures surface when the step is shown
      api.fetchPixels(api.imageUrl(run, tag, neighbour, imageIndex)).catch(() => {});
    }
  }
}
