/**
 * A probe image with an optional box drawn on it (a unit's receptive field). The box is an element
 * placed in percent of the image's pixel size, so it stays on the right pixels at any display size.
 */
import { el } from "./dom.js";

export function createProbeView({ className }) {
  const image = el("img", { alt: "" });
  const box = el("div", { className: "receptive-field", hidden: true });
  const caption = el("figcaption");
  const element = el("figure", { className: `probe-view ${className}` }, [el("div", { className: "probe-frame" }, [image, box]), caption]);
  let size = null; // [height, width] of the probe image in pixels

  /** `src` of the image (null: none logged), its `label`, and its pixel `size` ([h, w]) for boxes. */
  function show({ src, label, size: imageSize = null }) {
    element.hidden = label === null;
    image.hidden = !src;
    if (src && image.getAttribute("src") !== src) image.src = src;
    image.alt = label ?? "";
    caption.textContent = label ?? "";
    size = imageSize;
  }

  /** Draw [top, left, bottom, right] (exclusive ends, image pixels), or hide the box for null. */
  function setBox(edges) {
    box.hidden = !edges || !size;
    if (box.hidden) return;
    const [top, left, bottom, right] = edges;
    const [height, width] = size;
    box.style.top = `${(top / height) * 100}%`;
    box.style.left = `${(left / width) * 100}%`;
    box.style.height = `${((bottom - top) / height) * 100}%`;
    box.style.width = `${((right - left) / width) * 100}%`;
    box.dataset.box = JSON.stringify(edges); // for tests and debugging: what is drawn
  }

  return { element, show, setBox };
}
