/**
 * What a tab kind is: the members a module in kinds/ declares when it calls defineKind(name, declaration),
 * with the default of every optional one in [brackets]. `name` is the kind as the runs listing has it (the
 * keys of a layer's or the model's `kinds`, e.g. "feature_maps"). Only `label` is required, so a kind that
 * draws one grey atlas per probe image (colormap applies, no captions, no charts) is
 *
 *   defineKind("channel_mean", { label: "Channel mean heat map", perProbe: true });
 *
 * Which atlas and which tiles:
 *   label                         name in the View picker and titles (required)
 *   perProbe                      one atlas per probe image, so the probe picker applies [false]
 *   imageIndex(probe)             blob of the atlas to draw [FIRST_PICTURE_BLOB + probe when perProbe, else FIRST_PICTURE_BLOB]
 *   channels(info, probe)         the item (channel, probe, class) at each atlas position
 *                                 [info.channels, or info.channels[probe] where it holds one list per probe]
 *   channelsVary                  items come and go between steps, so a missing one is expected [false]
 * How a tile is drawn:
 *   looks(info, atlas)            which look controls apply: { norm, cmap } [norm false; cmap when the atlas is grey]
 *   drawTile(atlas, info, probe, position, look)   ImageData of one tile [a grey atlas through the colormap, others as logged]
 *   panes(info)                   how many pictures one tile holds side by side, so wide tiles get room [1]
 *   drawPatch(probeImage, info, probe, position)   ImageData of the decoded probe image under the tile, drawn beside it [null]
 *   box(info, probe, position)    [top, left, bottom, right] to draw on the probe image, shown beside the grid [null: no box, no probe image]
 *   scale(info, probe, position, look)   [low, high] texts beside the colorbar, or null [null]
 * What it says:
 *   caption(info, probe, position)   short text under a tile, or null [null]; captionLabel: what it is [null]
 *   note                          how to read the tiles, in the grid's summary line [null]
 *   details(info, probe, position)   [[name, text], ...] for the hover bar and the lightbox [[]]
 *   nouns                         [singular, plural] of what a tile is [["channel", "channels"]]
 *   itemName(info, item)          an item for people, e.g. "Probe 2: Sneaker" [`${nouns[0]} ${item}`]
 *   tileLabel(info, item)         its short label on the tile [String(item)]
 *   probesNote                    why the probe picker does not apply (kinds not perProbe) ["This view does not depend on the probe image."]
 *   absent(step)                  why an item has no tile at a step [`${nouns[0]} not logged at step ${step}`]
 * Over training, and compared:
 *   series                        charts over steps, [{ stat, label, format, range }]: `stat` a key of the series route's
 *                                 stats, `format` [formatNumber], `range` [null: the values' own] ([])
 *   stripInfo(look)               whether a filmstrip frame needs its step's info to be drawn or captioned [false]
 *   frameTile(image, layout, at, { info, probe, position, look })   ImageData of a filmstrip frame, tile `at` of `image` (a
 *                                 strip or an atlas) laid out as `layout` ({ tile, grid }) [drawTile(image, layout, probe, at, look)]
 *   frameCaption({ info, probe, position, values })   a frame's caption; `values`: { <stat>: number } of the series at
 *                                 that step [caption(info, probe, position) when the info is loaded, else null]
 *   flag(info, probe, position)   why a tile should not be read as it looks, as { text, why } (text on a badge: "dead",
 *                                 "inactive"; why in the grid's summary: "no activation on any probe"), or null [null];
 *                                 the "top" view asks it of each projection, probe null, position row * k + column
 *   difference                    whether two steps' tiles subtract meaningfully (compare view) [false]
 * Drawn by another view than the channel grid:
 *   view                          "grid" (grid.js), "top" (top-patches.js), or null: no pictures, not in the View picker
 *                                 (dynamics, drawn by Layer health's Dynamics view) ["grid"]
 *   stepsOf                       the kind whose steps navigate this one (logged only every few steps) [null: its own]
 *   patchesIndex, projectionsIndex   a "top" kind's blobs
 */
import { FIRST_PICTURE_BLOB } from "../contract.js";
import { pictures } from "./pictures.js";

const NOUNS = ["channel", "channels"];
const KINDS = new Map(); // name -> kind, in the order registered (kinds/index.js's import order)

/** `declaration` with every member it leaves out set to its default (see above). */
export function withDefaults(declaration) {
  if (typeof declaration.label !== "string") throw new TypeError(`a kind needs a label: ${JSON.stringify(Object.keys(declaration))}`);
  const kind = {};
  const nouns = declaration.nouns ?? NOUNS;
  Object.assign(
    kind,
    {
      ...pictures,
      perProbe: false,
      imageIndex: (probe) => (kind.perProbe ? FIRST_PICTURE_BLOB + probe : FIRST_PICTURE_BLOB),
      channels: (info, probe) => (Array.isArray(info.channels[0]) ? info.channels[probe] : info.channels),
      channelsVary: false,
      panes: () => 1,
      drawPatch: null,
      box: null,
      scale: () => null,
      caption: () => null,
      captionLabel: null,
      note: null,
      details: () => [],
      nouns,
      itemName: (info, item) => `${nouns[0]} ${item}`,
      tileLabel: (info, item) => String(item),
      probesNote: "This view does not depend on the probe image.",
      absent: (step) => `${nouns[0]} not logged at step ${step}`,
      series: [],
      stripInfo: () => false,
      frameTile: (image, layout, at, { probe, look }) => kind.drawTile(image, layout, probe, at, look),
      frameCaption: ({ info, probe, position }) => (info ? kind.caption(info, probe, position) : null),
      flag: () => null,
      difference: false,
      view: "grid",
      stepsOf: null,
    },
    declaration,
  );
  return Object.freeze(kind);
}

/** Register the kind `name` (its module's one call); returns the complete kind. */
export function defineKind(name, declaration) {
  if (KINDS.has(name)) throw new Error(`kind ${name} is defined twice`);
  const kind = withDefaults(declaration);
  KINDS.set(name, kind);
  return kind;
}

/** The registered kinds' names, in registration order. */
export function kindNames() {
  return [...KINDS.keys()];
}

/** The kind called `name`, or null when this version cannot draw it. */
export function kindOf(name) {
  return KINDS.get(name) ?? null;
}
