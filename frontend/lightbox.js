/**
 * One channel enlarged in a modal dialog: pixelated upscale, its statistics, the probe image it
 * responds to. Escape (native to <dialog>), the close button or a click beside it closes it;
 * Left/Right keep stepping through training while it is open.
 */
import { paint, renderTile, tileStats } from "./atlas.js";
import { el } from "./dom.js";
import { statsLine } from "./grid.js";

export function createLightbox({ onClose }) {
  const title = el("h2", { id: "cnnviz-lightbox-title" });
  const canvas = el("canvas", { className: "lightbox-canvas" });
  const stats = el("p", { className: "lightbox-stats" });
  const probeImage = el("img", { className: "lightbox-probe", alt: "" });
  const probeCaption = el("figcaption");
  const closeButton = el("button", { type: "button", className: "close", "aria-label": "Close", text: "×" });
  const element = el("dialog", { className: "lightbox", "aria-labelledby": "cnnviz-lightbox-title" }, [
    el("header", {}, [title, closeButton]),
    el("div", { className: "lightbox-body" }, [
      canvas,
      el("div", { className: "lightbox-side" }, [
        stats,
        el("figure", {}, [probeImage, probeCaption]),
        el("p", { className: "muted", text: "← → change step · Esc closes" }),
      ]),
    ]),
  ]);

  closeButton.addEventListener("click", () => element.close());
  element.addEventListener("click", (event) => {
    if (event.target === element) element.close(); // a click on the backdrop
  });
  element.addEventListener("close", onClose);

  /** Show (or refresh while open) the channel `channel` of the drawn atlas. */
  function show({ info, atlas, probe, norm, cmap, channel, heading, probeSrc, probeLabel }) {
    const position = info.channels.indexOf(channel);
    if (position < 0) return false;
    paint(canvas, renderTile(atlas, info, probe, position, { norm, cmap }));
    title.textContent = heading;
    stats.replaceChildren(...statsLine(tileStats(info, probe, position)));
    probeImage.hidden = !probeSrc;
    if (probeSrc) probeImage.src = probeSrc;
    probeCaption.textContent = probeLabel;
    if (!element.open) element.showModal();
    return true;
  }

  function close() {
    if (element.open) element.close();
  }

  return { element, show, close, isOpen: () => element.open };
}
