/**
 * The registry of the tab's kinds. Adding a kind is one module in this folder that calls
 * defineKind(name, { label, ... }) (kind.js lists the members and their defaults) and one import line
 * below; nothing else changes. The import order is the order of the View picker.
 */
import { kindNames, kindOf } from "./kind.js";

import "./feature-maps.js";
import "./filters.js";
import "./deconv.js";
import "./deconv-top.js";
import "./saliency.js";
import "./grad-cam.js";
import "./class-images.js";
import "./fooling.js";
import "./dynamics.js";

export { kindOf };

/** "Feature maps"; a kind this version cannot draw by its name: "training dynamics". */
export function kindLabel(name) {
  return kindOf(name)?.label ?? name.replaceAll("_", " ");
}

/**
 * The kinds of a layer or of the model entry (scopes.js) that have pictures to show: registered ones in
 * registry order, then the rest by name. Kinds without pictures (view null: dynamics) are drawn elsewhere.
 */
export function layerKinds(layer) {
  const order = kindNames();
  const rank = (kind) => (order.includes(kind) ? order.indexOf(kind) : order.length);
  return Object.keys(layer.kinds)
    .filter((kind) => kindOf(kind)?.view !== null)
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Kind `kind`'s item for people, to start a label with: "Channel 5", "Probe 2: Sneaker". */
export function itemLabel(kind, info, item) {
  const name = kind.itemName(info, item);
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** "16 channels", "1 probe". */
export function countItems(kind, count) {
  const [one, many] = kind.nouns;
  return `${count} ${count === 1 ? one : many}`;
}
