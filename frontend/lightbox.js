/**
 * One channel enlarged in a modal dialog: pixelated upscale, its statistics, the probe image it
 * responds to (for kinds drawn per probe), and below it `below` (the filmstrip). Escape (native to
 * <dialog>), the close button or a click beside it closes it; Left/Right keep stepping through
 * training while it is open.
 */
import { paint } from "./atlas.js";
import { el } from "./dom.js";
import { statsLine } from "./grid.js";

export function createLightbox({ onClose, onExport, below }) {
  const title = el("h2", { id: "cnnviz-lightbox-title" });
  const canvas = el("canvas", { className: "lightbox-canvas" });
  const stats = el("p", { className: "lightbox-stats" });
  const probeImage = el("img", { className: "lightbox-probe", alt: "" });
  const probeCaption = el("figcaption");
  const probeFigure = el("figure", {}, [probeImage, probeCaption]);
  const closeButton = el("button", { type: "button", className: "close", "aria-label": "Close", text: "×" });
  const exportButton = el("button", { type: "button", className: "export", title: "Download this channel and its filmstrip as a PNG image", on: { click: () => onExport(figure) } }, [
    el("span", { "aria-hidden": "true", text: "⤓ " }),
    "Export PNG",
  ]);
  const figure = el("div", { className: "lightbox-figure" }, [
    el("header", {}, [title, exportButton, closeButton]),
    el("div", { className: "lightbox-body" }, [
      canvas,
      el("div", { className: "lightbox-side" }, [
        stats,
        probeFigure,
        el("p", { className: "muted", text: "← → change step · Esc closes" }),
      ]),
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
   * Show (or refresh while open) the channel `channel` of the drawn atlas of `kind` (kinds.js);
   * `probeSrc`/`probeLabel` describe the probe image, or are null when the kind has none.
   */
  function show({ kind, info, atlas, probe, look, channel, heading, probeSrc, probeLabel }) {
    const position = info.channels.indexOf(channel);
    if (position < 0) return false;
    paint(canvas, kind.drawTile(atlas, info, probe, position, look));
    title.textContent = heading;
    stats.replaceChildren(...statsLine(channel, kind.details(info, probe, position)));
    probeFigure.hidden = probeLabel === null;
    probeImage.hidden = !probeSrc;
    if (probeSrc) probeImage.src = probeSrc;
    probeCaption.textContent = probeLabel ?? "";
    if (!element.open) element.showModal();
    return true;
  }

  function close() {
    if (element.open) element.close();
  }

  return { element, show, close, isOpen: () => element.open };
}
