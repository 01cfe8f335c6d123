/**
 * The tab's controller: holds the view state, plans what it names (view-plan.js), has the displays
 * (displays.js) load and draw it, and writes the state back to the URL once per update. Every change
 * runs update(); an update that a newer one overtook drops its results, so fast slider moves never
 * paint stale steps.
 */
import * as api from "./api.js";
import { createAlignList } from "./align.js";
import { createCompareControls } from "./compare.js";
import { DISPLAYS, only, showFailure } from "./displays.js";
import { el } from "./dom.js";
import { downloadView } from "./export.js";
import { createFilmstrip } from "./filmstrip.js";
import { createGridPanel } from "./grid.js";
import { createHealth } from "./health.js";
import { createLightbox } from "./lightbox.js";
import { emptyLogdirHelp, errorBanner, notice } from "./messages.js";
import { createPlayback } from "./playback.js";
import { MODEL } from "./scopes.js";
import { MODEL_SCOPE } from "./contract.js";
import { createSidebar } from "./sidebar.js";
import { onExternalChange, readState, sameState, writeState } from "./state.js";
import { createStepper } from "./stepper.js";
import { createToolbar } from "./toolbar.js";
import { createTopPatches } from "./top-patches.js";
import { planStep, planView } from "./view-plan.js";

export function createApp(root) {
  // shown: what the main view shows, for the lightbox, playback and export.
  const app = { state: readState(), generation: 0, shown: null };
  app.set = (patch) => {
    app.state = { ...app.state, ...patch };
    update(app);
  };
  app.reload = () => {
    api.forgetListings();
    update(app);
  };
  app.say = (...messages) => app.views.status.replaceChildren(...messages);
  app.fail = (error) => app.say(errorBanner(error));
  app.controls = createControls(app);
  app.views = createViews(app);
  root.append(...layout(app));
  app.controls.playback.setSpeed(app.state.speed);
  app.controls.stepper.setPlayback({ playing: false, stepsPerSecond: app.state.speed });
  onExternalChange((next) => {
    if (sameState(next, app.state)) return;
    app.state = next;
    update(app);
  });
  update(app);
}

/** The sidebar and the controls above the views; each change sets part of the state. */
function createControls(app) {
  const { set } = app;
  const sidebar = createSidebar({ onRun: (run) => set({ run }), onLayer: (layer) => set({ layer }), onProbe: (probe) => set({ probe }) });
  const compareControls = createCompareControls({
    onCompare: (compare) => set({ compare }),
    onOtherStep: (otherStep) => set({ otherStep }),
    onOtherRun: (otherRun) => set({ otherRun }),
    onDiff: (diff) => set({ diff }),
    onAlign: (align) => set({ align }),
  });
  const toolbar = createToolbar({
    onPanel: (panel) => set({ panel }),
    onKind: (kind) => set({ kind }),
    onNorm: (norm) => set({ norm }),
    onColormap: (cmap) => set({ cmap }),
    onReload: app.reload,
    onExport: () => exportPng(app, app.views.container),
    compareControls: compareControls.element,
  });
  const playback = createPlayback({
    steps: () => app.shown?.steps ?? [],
    current: () => app.shown?.step,
    prepare: (step) => app.shown.prepare(step),
    go: (step) => {
      stepper.set(app.shown.steps, step);
      set({ step });
    },
    onPlaying: (playing) => stepper.setPlayback({ playing, stepsPerSecond: app.state.speed }),
  });
  const stepper = createStepper({
    onStep: (step) => set({ step }),
    onPlay: () => playback.toggle(),
    onSpeed: (speed) => {
      playback.setSpeed(speed);
      set({ speed });
    },
  });
  return { sidebar, compareControls, toolbar, playback, stepper };
}

/** The views (each { element, show(view), hide(), setBusy(busy) }), the lightbox and the texts around them. */
function createViews(app) {
  const { set } = app;
  const onOpen = (channel) => set({ channel });
  const panels = { shown: createGridPanel("shown", { onOpen }), compared: createGridPanel("compared", { onOpen }), difference: createGridPanel("difference", { onOpen }) };
  const topPatches = createTopPatches();
  const alignList = createAlignList();
  const health = createHealth({
    onLayer: (layer) => set({ layer, panel: "channels" }),
    onView: (view) => set({ health: view }),
    onChannel: ({ layer, kind, channel }) => set({ layer, kind, channel, panel: "channels", compare: null }),
  });
  const filmstrip = createFilmstrip({ onStep: (step) => set({ step }), onFrames: (frames) => set({ frames }) });
  const lightbox = createLightbox({
    onClose: () => {
      if (app.state.channel !== null) set({ channel: null });
    },
    onExport: (figure) => exportPng(app, figure, `${app.shown.kind.nouns[0]}${app.state.channel}`),
    below: filmstrip.element,
  });
  const title = el("h1", { className: "view-title" });
  const status = el("div", { className: "status" });
  // What Export PNG draws: the title, the panels, top patches and health.
  const container = el("div", { className: "views" }, [
    title,
    el(
      "div",
      { className: "panels" },
      Object.values(panels).map((part) => part.element),
    ),
    alignList.element,
    topPatches.element,
    health.element,
  ]);
  const all = [...Object.values(panels), alignList, topPatches, health];
  return { panels, alignList, topPatches, health, all, filmstrip, lightbox, title, status, container };
}

function layout(app) {
  const { controls, views } = app;
  views.main = el("main", { className: "content" }, [el("div", { className: "controls" }, [controls.toolbar.element, controls.stepper.element]), views.status, views.container]);
  views.empty = el("div", { className: "empty-wrap", hidden: true }, [emptyLogdirHelp(app.reload)]);
  return [controls.sidebar.element, views.main, views.empty, views.lightbox.element];
}

/** Plan the state's view, find its step, have its display draw it; then write the settled state once. */
async function update(app) {
  const token = ++app.generation;
  const overtaken = () => token !== app.generation;
  setBusy(app, true);
  app.say();
  let next = app.state;
  let plan = null;
  try {
    const runs = await api.fetchRuns();
    if (overtaken()) return;
    plan = planView(app.state, runs);
    showEmpty(app, plan.show === "empty");
    if (plan.show === "empty") return;
    next = { ...next, ...plan.state };
    showChoices(app, plan, next);
    if (plan.show === "message") return hideAll(app, plan.message);
    const steps = await api.fetchSteps(plan.run.run, plan.stepsTag);
    if (overtaken()) return;
    const { step, message } = planStep(plan, steps, app.state.step);
    if (step === null) return hideAll(app, message);
    next = { ...next, step };
    app.controls.stepper.set(steps, step);
    if (message) app.say(notice(message));
    next = { ...next, ...(await DISPLAYS[plan.show](app, { plan, state: next, steps, step, overtaken })) };
  } catch (error) {
    if (!overtaken()) showFailure(app, plan, error);
  } finally {
    if (!overtaken()) {
      app.state = next;
      writeState(next);
      setBusy(app, false);
    }
  }
}

/** The run, layer and kind choices of the plan. */
function showChoices(app, plan, state) {
  const { sidebar, toolbar } = app.controls;
  sidebar.setRuns(plan.runNames, plan.run.run);
  if (!plan.scope) return;
  sidebar.setLayers(plan.run.layers, plan.scope.name, plan.run.model);
  toolbar.set({ panel: state.panel, kindChoices: plan.kinds, kind: plan.kindName, norm: state.norm, cmap: state.cmap });
}

function hideAll(app, message) {
  only(app, []);
  app.say(notice(message));
}

function showEmpty(app, isEmpty) {
  app.views.empty.hidden = !isEmpty;
  app.controls.sidebar.element.hidden = isEmpty;
  app.views.main.hidden = isEmpty;
}

function setBusy(app, busy) {
  for (const view of app.views.all) view.setBusy(busy);
}

async function exportPng(app, container, detail = null) {
  const { state } = app;
  const scope = state.layer === MODEL ? MODEL_SCOPE : state.layer;
  const view = state.panel === "health" ? (state.health === "dynamics" ? "dynamics" : "health") : state.kind;
  const parts = ["cnnviz", state.run, scope, view, detail, `step${state.step}`];
  // Each part in characters every file system takes, without "_" at its ends.
  const name = parts
    .filter((part) => part !== null)
    .map((part) => part.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, ""))
    .join("-");
  try {
    await downloadView(container, `${name}.png`);
  } catch (error) {
    app.fail(error);
  }
}
