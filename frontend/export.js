/**
 * Export of what is on screen as a PNG: the canvases, charts and texts inside a container are
 * painted onto one canvas at their on-screen places (twice the size, pixelated tiles stay sharp),
 * on white, then downloaded through a blob: URL. Only same-origin pixels are drawn, so the canvas
 * stays readable; nothing leaves the browser.
 */
const SCALE = 2;
const MARGIN = 16;
// Texts worth keeping in a figure: titles, tile and frame labels, captions, chart-free statistics.
const TEXTS = "h2, h3, .view-title span, .panel-title, .tile-label, .tile-caption, .tile-dead, .frame-step, .frame-caption, .channel-details, .lightbox-stats, .health-layer span";

/** Paint `container`'s visible content (minus `skip` elements) into a canvas. */
export async function renderView(container, skip = []) {
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
  for (const chart of container.querySelectorAll("svg.chart")) {
    if (!shown(chart)) continue;
    const box = chart.getBoundingClientRect();
    context.drawImage(await svgImage(chart), box.left, box.top, box.width, box.height);
  }
  for (const node of container.querySelectorAll(TEXTS)) {
    if (!shown(node) || node.parentElement.closest(TEXTS)) continue; // nested texts are drawn with their parent
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (style.backgroundColor !== "rgba(0, 0, 0, 0)") {
      context.fillStyle = style.backgroundColor;
      context.fillRect(box.left, box.top, box.width, box.height);
    }
    context.fillStyle = style.color;
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    context.textBaseline = "middle";
    context.textAlign = style.textAlign === "center" ? "center" : "left";
    const x = style.textAlign === "center" ? box.left + box.width / 2 : box.left + parseFloat(style.paddingLeft);
    context.fillText(node.textContent.replace(/\s+/g, " ").trim(), x, box.top + box.height / 2, box.width);
  }
  return canvas;
}

function svgImage(chart) {
  const text = new XMLSerializer().serializeToString(chart);
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const image = new Image();
  image.src = url;
  return image.decode().then(
    () => image,
    (error) => {
      throw new Error(`could not draw a chart: ${error.message}`);
    },
  ).finally(() => URL.revokeObjectURL(url));
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
