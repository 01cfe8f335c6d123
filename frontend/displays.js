/**
 * How each plan (view-plan.js) is shown once its step is known: the channel grid with its comparison
 * and the enlarged tile, the dataset's top patches, or layer health. Each takes the app (app.js) and
 * { plan, state, steps, step, overtaken }, shows its views, hides the others, and resolves to the
 * state fields it settled (probe, otherStep, channel), which update() writes with the rest.
 */
import * as api from "./api.js";
import { alignedKind, captionedByMatch } from "./align.js";
import { SIGNED } from "./colormaps.js";
import { differenceView } from "./compare.js";
import { el } from "./dom.js";
import { notice } from "./messages.js";
import { loadCompared, loadShown, loadTop, preloadNeighbours, probeChoices } from "./load.js";
import { scopePhrase, scopeTitle } from "./scopes.js";
import { nearestStep } from "./view-plan.js";

export const DISPLAYS = { grid: showChannels, top: showTopPatches, health: showHealth };
const ALIGNED_KIND = "feature_maps"; // the kind whose atlases hold activations the align route correlates

/** The channel grid of the plan's kind at `step`, what it is compared with, and the enlarged tile. */
async function showChannels(app, { plan, state, steps, step, overtaken }) {
  const { run, kind, tag, scope } = plan;
  const loaded = await loadShown(plan, state.probe, step);
  if (overtaken()) return {};
  const { info, atlas, probe, probes, imageIndex, source, probeInfo, probeImage } = loaded;
  const { sidebar, toolbar } = app.controls;
  const { panels } = app.views;
  sidebar.setProbes(probes, probe, kind.perProbe, kind.probesNote);
  const looks = kind.looks(info, atlas);
  toolbar.set({ panel: state.panel, kindChoices: plan.kinds, kind: plan.kindName, norm: state.norm, cmap: state.cmap, looks });
  const look = { norm: looks.norm ? state.norm : "channel", cmap: looks.cmap ? state.cmap : "grey" };
  setTitle(app, scopeTitle(scope), [kind.label, probeInfo?.label, `step ${step}`].filter(Boolean).join(" · "));
  const prepare = (at) => Promise.all([api.fetchInfo(run.run, tag, at), api.fetchPixels(api.imageUrl(run.run, tag, at, imageIndex))]);
  app.shown = { kind, info, atlas, probe, look, step, steps, run: run.run, tag, imageIndex, scope, probeInfo, probeImage, prepare };
  preloadNeighbours(run.run, tag, steps, step, imageIndex);

  only(app, [panels.shown, panels.compared, panels.difference]);
  const total = scope.shape?.[0] ?? kind.channels(info, probe).length;
  const title = plan.compare ? `${run.run} · step ${step}` : null;
  panels.shown.show({ kind, info, atlas, probe, look, total, source, step, probeImage, probeInfo, title });
  // Warm the tag's series once the grid is drawn: the filmstrip's charts need it as soon as a
  // channel opens, and the plugin reads it one info per step (seconds at 100 steps when cold).
  if (kind.series.length) api.fetchSeries(run.run, tag).catch(() => {}); // failures surface in the filmstrip
  const otherStep = await showComparison(app, { plan, state, steps, step, probe, look, total, overtaken });
  if (overtaken()) return {};
  return { probe, otherStep, channel: syncLightbox(app, state.channel) };
}

/** The compared panel (another step, or the same step of another run) and the difference panel; resolves to the compared step. */
async function showComparison(app, { plan, state, steps, step, probe, look, total, overtaken }) {
  const { compare, kind, scope } = plan;
  const { panels } = app.views;
  const otherStep = compare?.mode === "step" ? nearestStep(steps, state.otherStep ?? steps[0]) : state.otherStep;
  let other = compare?.mode === "step" ? { run: compare.run.run, tag: compare.tag, step: otherStep } : null;
  if (compare?.mode === "run") {
    const otherSteps = compare.tag ? await api.fetchSteps(compare.run.run, compare.tag) : [];
    if (overtaken()) return otherStep;
    if (otherSteps.length) other = { run: compare.run.run, tag: compare.tag, step: nearestStep(otherSteps, step) };
    else app.say(notice(`Run “${compare.run.run}” has no ${kind.label} of ${scopePhrase(scope)} to compare with.`));
  }
  const { diffAvailable, alignAvailable } = setCompareControls(app, { plan, state, steps, otherStep, other });
  panels.difference.hide();
  if (!other) {
    panels.compared.hide();
    return otherStep;
  }

  const compared = await loadCompared({ kind, shown: app.shown, runListing: compare.run }, other, probe);
  if (overtaken()) return otherStep;
  const aligned = state.align && alignAvailable ? await alignment(app, plan, step, other) : null;
  if (overtaken()) return otherStep;
  showCompared(app, { plan, other, compared, aligned, probe, look, total });
  if (state.diff && diffAvailable) showDifference(app, { other, compared, probe, total, step });
  return otherStep;
}

/** The compare controls for the comparison `other` (null: none); resolves which of difference and alignment apply. */
function setCompareControls(app, { plan, state, steps, otherStep, other }) {
  const diffAvailable = Boolean(other && plan.kind.difference);
  const alignAvailable = Boolean(other && plan.kindName === ALIGNED_KIND && other.tag === plan.tag);
  const runs = plan.otherRuns.map((candidate) => candidate.run);
  const choices = { diff: state.diff, diffAvailable, align: state.align, alignAvailable };
  app.controls.compareControls.set({ compare: plan.compare?.mode ?? null, steps, step: otherStep ?? steps[0], runs, run: state.otherRun, ...choices });
  return { diffAvailable, alignAvailable };
}

/** The compared grid; aligned (`aligned`: the align route's answer), each tile beside its matched shown channel. */
function showCompared(app, { plan, other, compared, aligned, probe, look, total }) {
  const { info, atlas, probeImage, probeInfo, source } = compared;
  if (aligned) showAligned(app, aligned, other.run === plan.run.run ? `step ${other.step}` : `${other.run} · step ${other.step}`);
  const kind = aligned ? alignedKind(plan.kind, aligned, app.shown.info.channels) : plan.kind;
  const title = `${other.run} · step ${other.step}${aligned ? " · aligned" : ""}`;
  app.views.panels.compared.show({ kind, info, atlas, probe, look, total, source, step: other.step, probeImage, probeInfo, title });
}

/** The align route's answer for the shown and the compared step, or null (the reason said) when it has none. */
async function alignment(app, plan, step, other) {
  try {
    return await api.fetchAlign(plan.run.run, plan.tag, step, other.run, other.step);
  } catch (error) {
    app.say(notice(`Channels not aligned: ${error.message}`));
    return null;
  }
}

/** The shown grid captioned with each channel's match, and the list of weak and unmatched channels. */
function showAligned(app, answer, otherName) {
  const { shown } = app;
  const { panels, alignList } = app.views;
  const { kind, info, atlas, probe, look, step, probeImage, probeInfo } = shown;
  const total = shown.scope.shape?.[0] ?? info.channels.length;
  const source = api.imageUrl(shown.run, shown.tag, step, shown.imageIndex);
  panels.shown.show({ kind: captionedByMatch(kind, answer), info, atlas, probe, look, total, source, step, probeImage, probeInfo, title: `${shown.run} · step ${step}` });
  alignList.show(answer, otherName);
}

/** The shown feature maps minus the compared ones, on one signed scale. */
function showDifference(app, { other, compared, probe, total, step }) {
  const { shown } = app;
  const difference = differenceView(shown, compared, probe);
  if (!difference) return app.say(notice("The two views have different tile sizes, so they cannot be subtracted."));
  const title = `Difference: step ${step} minus ${other.run === shown.run ? `step ${other.step}` : `${other.run} step ${other.step}`}`;
  const look = { norm: "channel", cmap: SIGNED };
  app.views.panels.difference.show({ kind: difference, info: shown.info, atlas: shown.atlas, probe, look, total, source: `${compared.source}#difference`, step, title });
}

/** The lightbox on `channel` of the shown grid with its filmstrip, or closed; resolves to the channel still open (or null). */
function syncLightbox(app, channel) {
  const { lightbox, filmstrip } = app.views;
  const { shown } = app;
  if (channel === null) {
    lightbox.close();
    return null;
  }
  const heading = [scopeTitle(shown.scope), shown.kind.label, shown.kind.itemName(shown.info, channel), `step ${shown.step}`].join(" · ");
  if (!lightbox.show({ ...shown, channel, heading })) {
    lightbox.close(); // the channel is not logged for this layer (e.g. after switching layers): forget it
    return null;
  }
  const { kind, run, tag, steps, probe, look, step } = shown;
  const layout = { tile: shown.info.tile, grid: shown.info.grid };
  filmstrip.show({ kind, run, tag, steps, layout, channel, probe, look, frames: app.state.frames, current: step }).catch((error) => app.fail(error));
  return channel;
}

/** The dataset's top patches per channel, from the latest step at or before `step` that has them. */
async function showTopPatches(app, { plan, state, steps, step, overtaken }) {
  const { run, scope, tag, kind } = plan;
  const [logged] = await Promise.all([api.fetchSteps(run.run, tag), showAside(app, plan, state, steps, step)]);
  if (overtaken()) return {};
  setTitle(app, scopeTitle(scope), `${kind.label} · step ${step}`);
  app.shown = { step, steps, run: run.run, scope, prepare: (at) => loadTop(plan, logged, at) };
  const loaded = await loadTop(plan, logged, step);
  if (overtaken()) return {};
  only(app, loaded ? [app.views.topPatches] : []);
  if (loaded) app.views.topPatches.show({ ...loaded, kind, step });
  else app.say(notice(`${kind.label} is first logged at step ${logged[0]}, after step ${step}.`));
  return {};
}

/** Layer health of the whole run at `step`; needs no atlas, so playback only moves the marker. */
async function showHealth(app, { plan, state, steps, step }) {
  const { run, scope } = plan;
  await showAside(app, plan, state, steps, step);
  setTitle(app, `Run ${run.run}`, `step ${step}`);
  app.shown = { step, steps, run: run.run, scope, prepare: () => Promise.resolve() };
  only(app, [app.views.health]);
  await app.views.health.show({ run: run.run, layers: run.layers, current: step, selected: scope.name, view: state.health });
  return {};
}

/** For views other than the grid: no look controls, probes and comparison, no enlarged tile. */
async function showAside(app, { run, kinds, kindName }, state, steps, step) {
  const { sidebar, toolbar, compareControls } = app.controls;
  toolbar.set({ panel: state.panel, kindChoices: kinds, kind: kindName, norm: state.norm, cmap: state.cmap, looks: { norm: false, cmap: false } });
  compareControls.set({ compare: null, steps, step, runs: [], run: null, diff: false, diffAvailable: false, disabled: true });
  app.views.lightbox.close();
  sidebar.setProbes(await probeChoices(run, run.probes?.count ?? 0), state.probe, false);
}

/**
 * A view that failed to load: nothing drawn for the view before stays (no tiles of another layer under
 * this one's name), the title names what was asked for, and the banner says why.
 */
export function showFailure(app, plan, error) {
  only(app, []);
  app.views.lightbox.close();
  if (plan?.scope) setTitle(app, scopeTitle(plan.scope), plan.kind?.label ?? plan.kindName ?? "");
  app.fail(error);
}

/** Show `views` (they show themselves when drawn), hide every other one. */
export function only(app, views) {
  for (const view of app.views.all) if (!views.includes(view)) view.hide();
}

function setTitle(app, layer, meta) {
  app.views.title.replaceChildren(el("span", { className: "title-layer", text: layer }), el("span", { className: "title-meta", text: meta }));
}
