/**
 * Export of what is on screen as a PNG: the canvases, images (probe pictures), receptive-field
 * boxes, charts and texts inside a container are painted onto one canvas at their on-screen places
 * (twice the size, pixelated tiles stay sharp), on white, then downloaded through a blob: URL. Rows
 * that scroll sideways (the filmstrip) are wrapped while exporting, so no frame is cut off. Only
 * same-origin pixels are drawn, so the canvas stays readable; nothing leaves the browser.
 */
const SCALE = 2;
const MARGIN = 16;
const EXPORTING = "exporting"; // class on the container while it is drawn: see style.css
// Texts worth keeping in a figure: titles, tile and frame labels, captions, statistics, notes.
const TEXTS =
  "h2, h3, .view-title span, .panel-title, .tile-label, .tile-caption, .tile-flag, .frame-step, .frame-caption, .frame-absent, " +
  ".channel-details, .lightbox-stats, .lightbox-absent, .health-layer span, .dynamics-head span, .dynamics-channels, .dynamics-summary, .probe-view figcaption, .top-note, .top-block-title, .top-cell figcaption";

/** Paint `container`'s visible content (minus `skip` elements) into a canvas. */
export async function renderView(container, skip = []) {
  container.classList.add(EXPORTING);
  try {
    return await paintView(container, skip);
  } finally {
    container.classList.remove(EXPORTING);
  }
}

async function paintView(container, skip) {
  const origin = container.getBoundingClientRect();
  const canvas = document.createElement("canvas");
  canvas.width = Math.ceil((container.scrollWidth + 2 * MARGIN) * SCALE);
  canvas.height = Math.ceil((container.scrollHeight + 2 * MARGIN) * SCALE);
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.scale(SCALE, SCALE);
  context.translate(MARGIN - origin.left + container.scrollLeft, MARGIN - origin.top + container.scrollTop);
  context.imageSmoothingEnabled = false;
  const shown = (node) => node.getClientRects().length > 0 && !skip.some((part) => part.contains(node));

  for (const node of container.querySelectorAll("canvas")) {
    if (!shown(node) || node.width < 2) continue;
    const box = node.getBoundingClientRect();
    context.drawImage(node, box.left, box.top, box.width, box.height);
  }
  for (const node of container.querySelectorAll("img")) {
    if (!shown(node) || !node.complete || node.naturalWidth === 0) continue;
    const box = node.getBoundingClientRect();
    context.drawImage(node, box.left, box.top, box.width, box.height);
  }
  for (const node of container.querySelectorAll(".receptive-field")) {
    if (!shown(node)) continue;
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    const width = parseFloat(style.borderTopWidth);
    context.strokeStyle = style.borderTopColor;
    context.lineWidth = width;
    context.strokeRect(box.left + width / 2, box.top + width / 2, box.width - width, box.height - width);
  }
  for (const chart of container.querySelectorAll("svg.chart")) {
    if (!shown(chart)) continue;
    const box = chart.getBoundingClientRect();
    context.drawImage(await svgImage(chart), box.left, box.top, box.width, box.height);
  }
  for (const node of container.querySelectorAll(TEXTS)) {
    if (!shown(node) || node.parentElement.closest(TEXTS)) continue; // nested texts are drawn with their parent
    const style = getComputedStyle(node);
    if (style.backgroundColor !== "rgba(0, 0, 0, 0)") {
      const box = node.getBoundingClientRect();
      context.fillStyle = style.backgroundColor;
      context.fillRect(box.left, box.top, box.width, box.height);
    }
    drawWords(context, node);
  }
  return canvas;
}

/**
 * Every word of `node`'s text where the page lays it out (a Range per word), in its own element's
 * font and colour: labelled statistics keep their gaps and wrapped lines their breaks.
 */
function drawWords(context, node) {
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  context.textBaseline = "middle";
  context.textAlign = "left";
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const style = getComputedStyle(text.parentElement);
    context.fillStyle = style.color;
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    for (const word of text.data.matchAll(/\S+/g)) {
      range.setStart(text, word.index);
      range.setEnd(text, word.index + word[0].length);
      const box = range.getBoundingClientRect();
      if (box.width === 0) continue; // clipped away or not rendered
      context.fillText(word[0], box.left, box.top + box.height / 2);
    }
  }
}

function svgImage(chart) {
  const text = new XMLSerializer().serializeToString(chart);
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const image = new Image();
  image.src = url;
  return image
    .decode()
    .then(
      () => image,
      (error) => {
        throw new Error(`could not draw a chart: ${error.message}`);
      },
    )
    .finally(() => URL.revokeObjectURL(url));
}

/** Render `container` and download it as `filename`. */
export async function downloadView(container, filename, skip = []) {
  const canvas = await renderView(container, skip);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000); // the download reads the URL after click() returns
}
