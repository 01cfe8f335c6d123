/**
 * The tab's controller: holds the view state, asks the api for what it names, hands results to the
 * views, and writes the state back to the URL. Every change runs update(); an update that a newer
 * one overtook drops its results, so fast slider moves never paint stale steps.
 */
import * as api from "./api.js";
import { SIGNED } from "./colormaps.js";
import { createCompareControls, differenceView } from "./compare.js";
import { el } from "./dom.js";
import { downloadView } from "./export.js";
import { createFilmstrip } from "./filmstrip.js";
import { createGrid } from "./grid.js";
import { createHealth } from "./health.js";
import { itemName, itemNouns, kindLabel, kindOf, layerKinds } from "./kinds.js";
import { createLightbox } from "./lightbox.js";
import { emptyLogdirHelp, errorBanner, notice } from "./messages.js";
import { createPlayback } from "./playback.js";
import { findScope, modelScope, scopePhrase, scopeTitle } from "./scopes.js";
import { createSidebar } from "./sidebar.js";
import { onExternalChange, readState, sameState, writeState } from "./state.js";
import { createStepper } from "./stepper.js";
import { createToolbar } from "./toolbar.js";
import { createTopPatches } from "./top-patches.js";

const PRELOAD_DISTANCE = 2; // steps on each side whose atlases load in the background

export function createApp(root) {
  let state = readState();
  let generation = 0;
  let shown = null; // what the main grid shows, for the lightbox, playback and export

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
  const compareControls = createCompareControls({
    onCompare: (compare) => set({ compare }),
    onOtherStep: (otherStep) => set({ otherStep }),
    onOtherRun: (otherRun) => set({ otherRun }),
    onDiff: (diff) => set({ diff }),
  });
  const views = el("div", { className: "views" }); // what Export PNG draws: title, panels, health
  const toolbar = createToolbar({
    onPanel: (panel) => set({ panel }),
    onKind: (kind) => set({ kind }),
    onNorm: (norm) => set({ norm }),
    onColormap: (cmap) => set({ cmap }),
    onReload: reload,
    onExport: () => exportPng(views),
    compareControls: compareControls.element,
  });
  const playback = createPlayback({
    steps: () => shown?.steps ?? [],
    current: () => shown?.step,
    prepare: (step) => shown.prepare(step),
    go: (step) => {
      stepper.set(shown.steps, step);
      set({ step });
    },
    onPlaying: (playing) => stepper.setPlayback({ playing, stepsPerSecond: state.speed }),
  });
  const stepper = createStepper({
    onStep: (step) => set({ step }),
    onPlay: () => playback.toggle(),
    onSpeed: (speed) => {
      playback.setSpeed(speed);
      set({ speed });
    },
  });
  const panel = (name) => {
    const grid = createGrid({ onOpen: (channel) => set({ channel }), panel: name });
    const title = el("h2", { className: "panel-title", hidden: true });
    const element = el("div", { className: "panel", hidden: name !== "shown" }, [title, grid.element]);
    return { grid, title, element };
  };
  const panels = { shown: panel("shown"), compared: panel("compared"), difference: panel("difference") };
  const topPatches = createTopPatches();
  const health = createHealth({ onLayer: (layer) => set({ layer, panel: "channels" }) });
  const filmstrip = createFilmstrip({ onStep: (step) => set({ step }), onFrames: (frames) => set({ frames }) });
  const lightbox = createLightbox({
    onClose: () => {
      if (state.channel !== null) set({ channel: null });
    },
    onExport: (figure) => exportPng(figure, `${itemNouns(shown.kind)[0]}${state.channel}`),
    below: filmstrip.element,
  });
  const title = el("h1", { className: "view-title" });
  const status = el("div", { className: "status" });
  views.append(
    title,
    el(
      "div",
      { className: "panels" },
      Object.values(panels).map((part) => part.element),
    ),
    topPatches.element,
    health.element,
  );
  const main = el("main", { className: "content" }, [el("div", { className: "controls" }, [toolbar.element, stepper.element]), status, views]);
  const empty = el("div", { className: "empty-wrap", hidden: true }, [emptyLogdirHelp(reload)]);
  root.append(sidebar.element, main, empty, lightbox.element);
  playback.setSpeed(state.speed);
  stepper.setPlayback({ playing: false, stepsPerSecond: state.speed });

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

  function setBusy(busy) {
    for (const part of Object.values(panels)) part.grid.setBusy(busy);
    topPatches.setBusy(busy);
  }

  async function update() {
    const token = ++generation;
    const overtaken = () => token !== generation;
    setBusy(true);
    say();
    try {
      const runs = await api.fetchRuns();
      if (overtaken()) return;
      showEmpty(runs.length === 0);
      if (runs.length === 0) return;

      const run = runs.find((candidate) => candidate.run === state.run) ?? runs[0];
      sidebar.setRuns(
        runs.map((candidate) => candidate.run),
        run.run,
      );
      // The selected layer or the model's entry; a run opens on its first layer.
      const scope = findScope(run, state.layer) ?? run.layers[0] ?? modelScope(run);
      if (!scope) return say(notice(`Run “${run.run}” has no layers logged yet.`));
      sidebar.setLayers(run.layers, scope.name, run.model);
      const kinds = layerKinds(scope);
      const kindName = kinds.includes(state.kind) ? state.kind : kinds[0];
      const kind = kindOf(kindName);
      state = { ...state, run: run.run, layer: scope.name, kind: kindName };
      toolbar.set({ panel: state.panel, kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap });
      writeState(state);
      const onHealth = state.panel === "health";
      const onTop = kind?.view === "top";
      health.element.hidden = !onHealth;
      panels.shown.element.hidden = onHealth || !kind || onTop;
      topPatches.element.hidden = onHealth || !onTop;
      if (!kind) return say(notice(`This version of CNN Viz cannot draw “${kindLabel(kindName)}” yet.`));

      const tag = scope.kinds[kindName];
      // A kind logged only every few steps is navigated by the steps of the kind it goes with.
      const stepsTag = scope.kinds[kind.stepsOf] ?? tag;
      const steps = await api.fetchSteps(run.run, stepsTag);
      if (overtaken()) return;
      if (steps.length === 0) {
        panels.shown.element.hidden = true;
        return say(notice(`No steps logged for ${stepsTag} yet.`));
      }
      const step = nearestStep(steps, state.step);
      stepper.set(steps, step);
      if (state.step !== null && step !== state.step) {
        say(notice(`Step ${state.step} is not logged for ${scopePhrase(scope)}; showing step ${step}.`));
      }
      if (onHealth || onTop) {
        state = { ...state, step };
        writeState(state);
        toolbar.set({ panel: state.panel, kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap, looks: { norm: false, cmap: false } });
        sidebar.setProbes(await probeChoices(run, run.probes?.count ?? 0), state.probe, false);
        if (overtaken()) return;
        for (const part of [panels.compared, panels.difference]) part.element.hidden = true;
        compareControls.set({ compare: null, steps, step, runs: [], run: null, diff: false, diffAvailable: false, disabled: true });
        lightbox.close();
        if (onHealth) return await showHealth({ run, scope, steps, step });
        return await showTopPatches({ run, scope, tag, kind, steps, step, overtaken });
      }

      // The step's info, its atlas and the probe thumbnails load in parallel: the atlas is asked for
      // with the selected probe (clamped to the run's probe count), which is what the info confirms
      // in all but odd logs; a mismatch fetches the right one after.
      const guessedProbe = kind.perProbe && run.probes?.count ? Math.min(state.probe, run.probes.count - 1) : state.probe;
      const guessedSource = api.imageUrl(run.run, tag, step, kind.imageIndex(guessedProbe));
      const guessedAtlas = api.fetchPixels(guessedSource);
      guessedAtlas.catch(() => {}); // surfaces below when it is the atlas shown
      const [info, loggedProbes] = await Promise.all([api.fetchInfo(run.run, tag, step), probeChoices(run, run.probes?.count ?? 0)]);
      if (overtaken()) return;
      // Kinds without probes keep the selection for when the user switches back.
      const probeCount = kind.perProbe ? info.probes : (run.probes?.count ?? 0);
      const probe = kind.perProbe ? Math.min(state.probe, info.probes - 1) : state.probe;
      const probes = probeCount === loggedProbes.length ? loggedProbes : await probeChoices(run, probeCount);
      if (overtaken()) return;
      sidebar.setProbes(probes, probe, kind.perProbe, kind.probesNote);

      const imageIndex = kind.imageIndex(probe);
      const source = api.imageUrl(run.run, tag, step, imageIndex);
      const probeInfo = kind.perProbe ? probes[probe] : null;
      const [atlas, probeImage] = await Promise.all([source === guessedSource ? guessedAtlas : api.fetchPixels(source), probePixels(kind, probeInfo)]);
      if (overtaken()) return;
      state = { ...state, step, probe };
      writeState(state);
      const looks = kind.looks(info, atlas);
      toolbar.set({ panel: state.panel, kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap, looks });
      const look = { norm: looks.norm ? state.norm : "channel", cmap: looks.cmap ? state.cmap : "grey" };
      title.replaceChildren(
        el("span", { className: "title-layer", text: scopeTitle(scope) }),
        el("span", { className: "title-meta", text: [kind.label, probeInfo?.label, `step ${step}`].filter(Boolean).join(" · ") }),
      );
      const prepare = (at) => Promise.all([api.fetchInfo(run.run, tag, at), api.fetchPixels(api.imageUrl(run.run, tag, at, imageIndex))]);
      shown = { kind, info, atlas, probe, look, step, steps, run: run.run, tag, imageIndex, scope, probeInfo, probeImage, prepare };
      preloadNeighbours(run.run, tag, steps, step, imageIndex);

      const total = scope.shape?.[0] ?? kind.channels(info, probe).length;
      panels.shown.grid.draw({ kind, info, atlas, probe, look, total, source, step, probeImage, probeInfo });
      // Warm the tag's series once the grid is drawn: the filmstrip's charts need it as soon as a
      // channel opens, and the plugin reads it one info per step (seconds at 100 steps when cold).
      if (kind.series.length) api.fetchSeries(run.run, tag).catch(() => {}); // failures surface in the filmstrip
      await drawComparison({ runs, run, scope, kindName, kind, steps, step, probe, look, total, overtaken });
      if (overtaken()) return;
      syncLightbox();
    } catch (error) {
      if (!overtaken()) say(errorBanner(error));
    } finally {
      if (!overtaken()) setBusy(false);
    }
  }

  /** Layer health of the whole run at `step`; needs no atlas, so playback only moves the marker. */
  async function showHealth({ run, scope, steps, step }) {
    title.replaceChildren(el("span", { className: "title-layer", text: `Run ${run.run}` }), el("span", { className: "title-meta", text: `step ${step}` }));
    shown = { step, steps, run: run.run, scope, prepare: () => Promise.resolve() };
    await health.show({ run: run.run, layers: run.layers, current: step, selected: scope.name });
  }

  /** The dataset's top patches per channel, from the latest step at or before `step` that has them. */
  async function showTopPatches({ run, scope, tag, kind, steps, step, overtaken }) {
    const logged = await api.fetchSteps(run.run, tag);
    if (overtaken()) return;
    const loggedAt = (at) => logged.filter((candidate) => candidate <= at).pop() ?? null;
    const load = (at) => {
      const loggedStep = loggedAt(at);
      if (loggedStep === null) return Promise.resolve(null);
      const url = (index) => api.imageUrl(run.run, tag, loggedStep, index);
      return Promise.all([api.fetchInfo(run.run, tag, loggedStep), api.fetchPixels(url(kind.patchesIndex)), api.fetchPixels(url(kind.projectionsIndex))]);
    };
    title.replaceChildren(el("span", { className: "title-layer", text: scopeTitle(scope) }), el("span", { className: "title-meta", text: `${kind.label} · step ${step}` }));
    shown = { step, steps, run: run.run, scope, prepare: load };
    const loaded = await load(step);
    if (overtaken()) return;
    topPatches.element.hidden = loaded === null;
    if (loaded === null) return say(notice(`${kind.label} is first logged at step ${logged[0]}, after step ${step}.`));
    const [info, patches, projections] = loaded;
    const loggedStep = loggedAt(step);
    topPatches.draw({ info, patches, projections, step, loggedStep, source: api.imageUrl(run.run, tag, loggedStep, kind.patchesIndex) });
  }

  /** The compared panel (another step, or the same step of another run) and the difference panel. */
  async function drawComparison({ runs, run, scope, kindName, kind, steps, step, probe, look, total, overtaken }) {
    const otherRuns = runs.filter((candidate) => candidate.run !== run.run);
    const compare = state.compare === "run" && otherRuns.length === 0 ? null : state.compare;
    let other = null;
    if (compare === "step") {
      const otherStep = nearestStep(steps, state.otherStep ?? steps[0]);
      other = { run: run.run, tag: scope.kinds[kindName], step: otherStep };
      state = { ...state, otherStep };
    } else if (compare === "run") {
      const otherRun = otherRuns.find((candidate) => candidate.run === state.otherRun) ?? otherRuns[0];
      state = { ...state, otherRun: otherRun.run };
      const tag = findScope(otherRun, scope.name)?.kinds[kindName];
      const otherSteps = tag ? await api.fetchSteps(otherRun.run, tag) : [];
      if (overtaken()) return;
      if (otherSteps.length) other = { run: otherRun.run, tag, step: nearestStep(otherSteps, step) };
      else say(notice(`Run “${otherRun.run}” has no ${kindLabel(kindName)} of ${scopePhrase(scope)} to compare with.`));
    }
    writeState(state);
    const diffAvailable = Boolean(other && kind.difference);
    compareControls.set({
      compare,
      steps,
      step: state.otherStep ?? steps[0],
      runs: otherRuns.map((candidate) => candidate.run),
      run: state.otherRun,
      diff: state.diff,
      diffAvailable,
    });
    panels.shown.title.hidden = !compare;
    panels.shown.title.textContent = `${run.run} · step ${step}`;
    panels.compared.element.hidden = !other;
    panels.difference.element.hidden = true;
    if (!other) return;

    const source = api.imageUrl(other.run, other.tag, other.step, kind.imageIndex(probe));
    // Another run may have logged other probe images: its patches come from its own.
    const probeInfo =
      other.run === run.run
        ? shown.probeInfo
        : kind.perProbe
          ? (
              await probeChoices(
                runs.find((candidate) => candidate.run === other.run),
                probe + 1,
              )
            )[probe]
          : null;
    const [info, atlas, probeImage] = await Promise.all([api.fetchInfo(other.run, other.tag, other.step), api.fetchPixels(source), probePixels(kind, probeInfo)]);
    if (overtaken()) return;
    panels.compared.title.hidden = false;
    panels.compared.title.textContent = `${other.run} · step ${other.step}`;
    panels.compared.grid.draw({ kind, info, atlas, probe, look, total, source, step: other.step, probeImage, probeInfo });
    if (!state.diff || !diffAvailable) return;
    const difference = differenceView(shown, { info, atlas }, probe);
    if (!difference) return say(notice("The two views have different tile sizes, so they cannot be subtracted."));
    panels.difference.element.hidden = false;
    panels.difference.title.hidden = false;
    panels.difference.title.textContent = `Difference: step ${step} minus ${other.run === run.run ? `step ${other.step}` : `${other.run} step ${other.step}`}`;
    panels.difference.grid.draw({
      kind: difference,
      info: shown.info,
      atlas: shown.atlas,
      probe,
      look: { norm: "channel", cmap: SIGNED },
      total,
      source: `${source}#difference`,
      step,
    });
  }

  function syncLightbox() {
    if (state.channel === null) return lightbox.close();
    const opened = lightbox.show({
      ...shown,
      channel: state.channel,
      heading: [scopeTitle(shown.scope), shown.kind.label, itemName(shown.kind, shown.info, state.channel), `step ${shown.step}`].join(" · "),
    });
    if (!opened) {
      // The channel is not logged for this layer (e.g. after switching layers): forget it.
      state = { ...state, channel: null };
      lightbox.close();
      writeState(state);
      return;
    }
    const { kind, run, tag, steps, probe, look, step } = shown;
    filmstrip
      .show({ kind, run, tag, steps, layout: { tile: shown.info.tile, grid: shown.info.grid }, channel: state.channel, probe, look, frames: state.frames, current: step })
      .catch((error) => say(errorBanner(error)));
  }

  async function exportPng(container, detail = null) {
    const parts = ["cnnviz", state.run, state.layer, state.panel === "health" ? "health" : state.kind, detail, `step${state.step}`];
    // Each part in characters every file system takes, without "_" at its ends: "(model)" gives "model".
    const name = parts
      .filter((part) => part !== null)
      .map((part) => part.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, ""))
      .join("-");
    try {
      await downloadView(container, `${name}.png`);
    } catch (error) {
      say(errorBanner(error));
    }
  }

  update();
}

/** The logged step closest to `wanted` (the last one when nothing is wanted). */
function nearestStep(steps, wanted) {
  if (wanted === null) return steps[steps.length - 1];
  return steps.reduce((best, step) => (Math.abs(step - wanted) < Math.abs(best - wanted) ? step : best));
}

/** The decoded probe image when the kind draws patches of it, else null. */
function probePixels(kind, probeInfo) {
  return kind.drawPatch && probeInfo?.src ? api.fetchPixels(probeInfo.src) : Promise.resolve(null);
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
