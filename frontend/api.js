/**
 * Everything the tab asks the plugin for, with in-memory caches.
 *
 * URLs are relative to the iframe's <base href="plugin/cnnviz/">, so they keep working under
 * --path_prefix and experiment paths. What a logged step holds (info, atlases) never changes, so it
 * is cached for the session; listings (runs, steps) grow while training runs and can be dropped
 * with forgetListings().
 */

const MAX_CACHED_IMAGES = 160; // decoded atlases are up to ~1 MB each; keep the recent ones

const listingCache = new Map();
const infoCache = new Map();
const imageCache = new Map();
const stripCache = new Map(); // strips grow with training, so they are dropped with the listings
const MAX_CACHED_STRIPS = 24;
const MAX_REASON_LENGTH = 400; // characters of the plugin's explanation shown in the tab
const SKIPPED_HEADER = "X-CNNViz-Skipped-Steps"; // the strip's blank frames of steps the plugin cannot read

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

function withQuery(route, params) {
  return `./${route}?${new URLSearchParams(params)}`;
}

export function imageUrl(run, tag, step, index) {
  return withQuery("image", { run, tag, step, index });
}

async function request(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ApiError(`Could not reach TensorBoard: ${error.message}`, 0);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/**
 * The error of a failed answer: the plugin's short text/plain explanation, else one line about the
 * status; never the body of an HTML error page.
 */
async function failure(response) {
  const plain = (response.headers.get("Content-Type") ?? "").startsWith("text/plain");
  const text = plain ? (await response.text()).trim() : "";
  if (!text) return new ApiError(`The server could not answer (HTTP ${response.status}).`, response.status);
  return new ApiError(text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}…` : text, response.status);
}

/** One shared promise per URL; a failed load is forgotten so that the next call retries it. */
function cached(cache, url, load, limit = Infinity) {
  let promise = cache.get(url);
  if (promise) {
    cache.delete(url); // re-insert: Map order doubles as least-recently-used order
  } else {
    promise = load(url);
    promise.catch(() => cache.delete(url));
  }
  cache.set(url, promise);
  while (cache.size > limit) cache.delete(cache.keys().next().value);
  return promise;
}

async function loadJson(url) {
  const response = await request(url);
  try {
    return await response.json();
  } catch {
    throw new ApiError(`The server sent an answer the tab cannot read (not JSON, HTTP ${response.status}).`, response.status);
  }
}

export async function fetchRuns() {
  return (await cached(listingCache, "./runs", loadJson)).runs;
}

export async function fetchSteps(run, tag) {
  return (await cached(listingCache, withQuery("steps", { run, tag }), loadJson)).steps;
}

export function fetchInfo(run, tag, step) {
  return cached(infoCache, withQuery("info", { run, tag, step }), loadJson);
}

/**
 * Per-step statistics of a tag from the plugin's `series` route (one request instead of one info per
 * step): { kind, steps, wall_times, channels, stats: { <name>: [[per channel] per step] } }.
 * Served without long cache headers since training appends steps; cached here like the listings.
 */
export function fetchSeries(run, tag) {
  return cached(listingCache, withQuery("series", { run, tag }), loadJson);
}

/**
 * How the run's layers and channels changed over training (plugin route `dynamics`): change curves,
 * settled steps, channels ranked by recent drift and the layer x step heat map. Cached like the listings.
 */
export function fetchDynamics(run) {
  return cached(listingCache, withQuery("dynamics", { run }), loadJson);
}

/**
 * The channels of feature-maps `tag` at (run, step) matched one to one to those of (otherRun, otherStep) by
 * correlation (plugin route `align`): { pairs: [{ channel, other, correlation }], unmatched, other_unmatched,
 * weak, threshold, mean_correlation, share_above }. Logged steps never change, so it is cached like an info.
 */
export function fetchAlign(run, tag, step, otherRun, otherStep) {
  return cached(infoCache, withQuery("align", { run, tag, step, other_run: otherRun, other_step: otherStep }), loadJson);
}

/**
 * Channel `channel`'s tile of image `index` at every logged step, left to right in `steps` order, as
 * one decoded strip (plugin route `strip`): { image, unreadable: Set of the steps the plugin could not
 * read }; fully transparent where a step has no tile of it or cannot be read.
 */
export function fetchStrip(run, tag, channel, index) {
  return cached(stripCache, withQuery("strip", { run, tag, channel, index }), decodeStrip, MAX_CACHED_STRIPS);
}

async function decodeStrip(url) {
  const response = await request(url);
  const listed = response.headers.get(SKIPPED_HEADER);
  return { image: await decodeResponse(response), unreadable: new Set(listed ? listed.split(",").map(Number) : []) };
}

/** The PNG's exact pixel values as ImageData (no colour management, no premultiplication). */
export function fetchPixels(url) {
  return cached(imageCache, url, decodePng, MAX_CACHED_IMAGES);
}

async function decodePng(url) {
  return decodeResponse(await request(url));
}

async function decodeResponse(response) {
  const blob = await response.blob();
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new ApiError("The server sent a picture the browser cannot decode; its event file may be corrupt.", response.status);
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/** Drop runs, step lists, series and strips so the next fetch sees what training has logged since. */
export function forgetListings() {
  listingCache.clear();
  stripCache.clear();
}
