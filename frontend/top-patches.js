/**
 * Dataset top activations, Zeiler & Fergus figure 2 style: per channel, the k dataset patches that
 * excite it most and their deconvnet projections, as two square blocks side by side, each patch with
 * its activation and each projection with its dataset image. They are logged only every few steps,
 * so the view says which logged step it shows. One of the views app.js shows and hides
 * ({ element, show(view), hide(), setBusy(busy) }).
 */
import { copyTile, paint } from "./atlas.js";
import { el } from "./dom.js";
import { formatNumber } from "./format.js";
import { flagCounts } from "./grid.js";

export function createTopPatches() {
  const note = el("p", { className: "top-note muted" });
  const cards = el("div", { className: "top-cards", role: "list" });
  const element = el("section", { className: "top-patches", hidden: true, "aria-label": "Strongest dataset patches per channel" }, [note, cards]);
  let drawnKey = null;

  /**
   * Draw `info` (a deconv_top info of `kind`) with its decoded atlases `patches` and `projections`, logged
   * at `loggedStep`, for the navigated `step`; `source` is the patches' URL (kept for tests). Projections
   * the kind flags (kind.flag) are outlined, counted on their channel's card and in the note.
   */
  function show({ info, kind, patches, projections, step, loggedStep, source }) {
    element.hidden = false;
    const [height, width] = info.tile;
    const key = JSON.stringify([info.channels, info.k, info.tile]);
    if (key !== drawnKey) {
      drawnKey = key;
      cards.style.setProperty("--top-aspect", `${width} / ${height}`);
      cards.style.setProperty("--top-columns", String(Math.ceil(Math.sqrt(info.k))));
      cards.replaceChildren(...info.channels.map((channel, row) => card(channel, row, info.k)));
    }
    note.textContent = [
      loggedStep === step ? `Logged at step ${step}.` : `Logged every few steps: showing step ${loggedStep}, the latest at or before step ${step}.`,
      `Per channel, the ${info.k} dataset patches that excite it most (under each: activation) and their projections (grey = 0; under each: dataset image).`,
      ...flagCounts(kind, info, null, info.channels.length * info.k).map((count) => `${count}.`),
    ].join(" ");
    info.channels.forEach((_, row) => drawCard(cards.children[row], info, row, { kind, patches, projections }));
    element.dataset.source = source; // for tests and debugging: what is drawn, and from which step
    element.dataset.step = String(step);
    element.dataset.loggedStep = String(loggedStep);
  }

  function hide() {
    element.hidden = true;
  }

  function card(channel, row, k) {
    const cells = (className) =>
      el(
        "div",
        { className: `top-block ${className}` },
        Array.from({ length: k }, () => el("figure", { className: "top-cell" }, [el("canvas", { width: 1, height: 1 }), el("figcaption")])),
      );
    return el("article", { className: "top-card", role: "listitem", "data-channel": channel, "aria-label": `Channel ${channel}` }, [
      el("h3", {}, [`Channel ${channel}`, el("span", { className: "tile-flag" })]),
      el("div", { className: "top-blocks" }, [
        el("div", {}, [el("span", { className: "top-block-title", text: "Patches" }), cells("top-patch")]),
        el("div", {}, [el("span", { className: "top-block-title", text: "Projections" }), cells("top-projection")]),
      ]),
    ]);
  }

  function setBusy(busy) {
    element.classList.toggle("busy", busy);
    element.setAttribute("aria-busy", String(busy));
  }

  return { element, show, hide, setBusy };
}

/** Row `row` of `info`'s atlases into its card: each patch with its activation, each projection with its dataset image. */
function drawCard(card, info, row, { kind, patches, projections }) {
  const patchCells = card.querySelectorAll(".top-patch .top-cell");
  const projectionCells = card.querySelectorAll(".top-projection .top-cell");
  const flags = [];
  for (let column = 0; column < info.k; column++) {
    const position = row * info.k + column;
    const value = formatNumber(info.values[row][column]);
    const index = info.indices[row][column];
    paint(patchCells[column].firstChild, copyTile(patches, info, position));
    paint(projectionCells[column].firstChild, copyTile(projections, info, position));
    patchCells[column].lastChild.textContent = value;
    projectionCells[column].lastChild.textContent = `#${index}`;
    const flag = kind.flag(info, null, position);
    projectionCells[column].classList.toggle("flagged", flag !== null);
    projectionCells[column].dataset.flag = flag?.text ?? "";
    if (flag) flags.push(flag);
    patchCells[column].title = `Dataset image ${index} · activation ${value}`;
    projectionCells[column].title = `${patchCells[column].title}${flag ? ` · ${flag.text}: ${flag.why}` : ""}`;
  }
  // Cells are too small for a badge each: the card's title counts its flagged projections.
  const badge = card.querySelector("h3 .tile-flag");
  card.classList.toggle("flagged", flags.length > 0);
  badge.textContent = flags.length ? `${flags.length} ${flags[0].text}` : "";
  badge.title = flags[0]?.why ?? "";
}
