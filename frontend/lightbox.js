/**
 * One tile (a channel, or a probe or class of a model-level kind) enlarged in a modal dialog:
 * pixelated upscale, its statistics, the probe image it responds to (for kinds drawn per probe; with
 * the unit's receptive field and input patch for kinds that have them), and below it `below` (the
 * filmstrip). Escape (native to <dialog>), the close button or a click beside it closes it;
 * Left/Right keep stepping through training while it is open.
 */
import { paint } from "./atlas.js";
import { el } from "./dom.js";
import { statsLine } from "./grid.js";
import { itemLabel } from "./kinds/index.js";
import { createProbeView } from "./probe-view.js";

export function createLightbox({ onClose, onExport, below }) {
  const title = el("h2", { id: "cnnviz-lightbox-title" });
  const patchCanvas = el("canvas", { className: "lightbox-canvas lightbox-patch", title: "Input patch" });
  const canvas = el("canvas", { className: "lightbox-canvas lightbox-picture" });
  const stats = el("p", { className: "lightbox-stats" });
  const absent = el("p", { className: "lightbox-absent", hidden: true });
  const probeView = createProbeView({ className: "lightbox-probe" });
  const closeButton = el("button", { type: "button", className: "close", "aria-label": "Close", text: "×" });
  const exportButton = el(
    "button",
    { type: "button", className: "export", title: "Download this channel and its filmstrip as a PNG image", on: { click: () => onExport(figure) } },
    [el("span", { "aria-hidden": "true", text: "⤓ " }), "Export PNG"],
  );
  const figure = el("div", { className: "lightbox-figure" }, [
    el("header", {}, [title, exportButton, closeButton]),
    el("div", { className: "lightbox-body" }, [
      absent,
      patchCanvas,
      canvas,
      el("div", { className: "lightbox-side" }, [stats, probeView.element, el("p", { className: "muted", text: "← → change step · Esc closes" })]),
    ]),
    below,
  ]);
  const element = el("dialog", { className: "lightbox", "aria-labelledby": "cnnviz-lightbox-title" }, [figure]);

  closeButton.addEventListener("click", () => element.close());
  element.addEventListener("click", (event) => {
    if (event.target === element) element.close(); // a click on the backdrop
  });
  element.addEventListener("close", onClose);

  /**
   * Show (or refresh while open) the channel `channel` of the drawn atlas of `kind` (kinds/);
   * `probeInfo` ({ label, src }) describes the probe image, or is null when the kind has none;
   * `probeImage` is its decoded PNG when the kind draws patches of it (else null).
   */
  function show({ kind, info, atlas, probe, look, channel, step, heading, probeInfo, probeImage }) {
    const position = kind.channels(info, probe).indexOf(channel);
    if (position < 0 && !kind.channelsVary) return false;
    title.textContent = heading;
    absent.hidden = position >= 0;
    for (const part of [canvas, patchCanvas, stats]) part.hidden = position < 0;
    if (position < 0) {
      absent.textContent = `${itemLabel(kind, info, channel)} is ${kind.absent(step)}.`;
      probeView.setBox(null);
      if (!element.open) element.showModal();
      return true;
    }
    const picture = kind.drawTile(atlas, info, probe, position, look);
    paint(canvas, picture);
    canvas.style.setProperty("--picture-aspect", String(picture.width / picture.height));
    const withPatch = Boolean(kind.drawPatch && probeImage);
    patchCanvas.hidden = !withPatch;
    if (withPatch) paint(patchCanvas, kind.drawPatch(probeImage, info, probe, position));
    stats.replaceChildren(...statsLine(itemLabel(kind, info, channel), kind.details(info, probe, position)));
    probeView.show({ src: probeInfo?.src ?? null, label: probeInfo?.label ?? null, size: probeImage ? [probeImage.height, probeImage.width] : null });
    probeView.setBox(kind.box ? kind.box(info, probe, position) : null);
    if (!element.open) element.showModal();
    return true;
  }

  function close() {
    if (element.open) element.close();
  }

  return { element, show, close, isOpen: () => element.open };
}
