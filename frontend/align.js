/**
 * "Align channels" in Compare mode: two runs (or two steps) number their channels differently, so the
 * plugin's `align` route matches them one to one by the correlation of their feature maps on the shared
 * probe images. Here: the shown grid captioned with each channel's match, the compared grid reordered so
 * each tile sits beside its match, and the list of unmatched and weakly matched channels.
 */
import { el } from "./dom.js";
import { formatNumber, formatPercent } from "./format.js";
import { withDefaults } from "./kinds/kind.js";

// Short enough for the narrowest tile (72 px): "↔ 17 · 0.83", the matched channel and the correlation r.
const matchText = (other, correlation) => `↔ ${other} · ${correlation.toFixed(2)}`;

/** The shown grid's kind with each tile captioned by its matched channel and correlation. */
export function captionedByMatch(kind, answer) {
  const pairs = new Map(answer.pairs.map((pair) => [pair.channel, pair]));
  return withDefaults({
    ...kind,
    caption(info, probe, position) {
      const pair = pairs.get(info.channels[position]);
      return pair ? matchText(pair.other, pair.correlation) : "unmatched";
    },
    captionLabel: "↔ its matched channel in the compared view · their correlation r",
  });
}

/**
 * The compared grid's kind, tiles in the shown grid's order: at each position the channel matched to the
 * shown channel there (blank where it has none). `shownChannels`: the shown grid's channels. Its items are
 * the shown channels (a click opens the shown channel of the pair); labels name the matched ones.
 */
export function alignedKind(kind, answer, shownChannels) {
  const pairs = new Map(answer.pairs.map((pair) => [pair.channel, pair]));
  const matched = shownChannels.map((channel) => pairs.get(channel) ?? null);
  const at = (info, position) => (position === null || !matched[position] ? -1 : info.channels.indexOf(matched[position].other));
  const weak = { text: "weak", why: `matched with r < ${answer.threshold}` };
  return withDefaults({
    ...kind,
    channels: () => shownChannels,
    tileLabel: (info, item) => (pairs.has(item) ? String(pairs.get(item).other) : "–"),
    itemName: (info, item) => (pairs.has(item) ? `channel ${pairs.get(item).other}, matched to channel ${item}` : `no channel matched to channel ${item}`),
    drawTile(atlas, info, probe, position, look) {
      const other = at(info, position);
      const [height, width] = info.tile;
      return other < 0 ? new ImageData(width, height) : kind.drawTile(atlas, info, probe, other, look);
    },
    caption: (info, probe, position) => (matched[position] ? matchText(shownChannels[position], matched[position].correlation) : "unmatched"),
    captionLabel: "↔ the shown channel it is matched to · their correlation r",
    details(info, probe, position) {
      const other = at(info, position);
      if (other < 0) return [["no channel here matches", `channel ${shownChannels[position]}`]];
      return [["matched to", `channel ${shownChannels[position]}`], ["r", formatNumber(matched[position].correlation)], ...kind.details(info, probe, other)];
    },
    scale: (info, probe, position, look) => kind.scale(info, probe, position === null ? null : Math.max(0, at(info, position)), look),
    flag(info, probe, position) {
      if (matched[position] && matched[position].correlation < answer.threshold) return weak;
      const other = at(info, position);
      return other < 0 ? null : kind.flag(info, probe, other);
    },
    difference: false,
  });
}

/** The list under the grids: summary numbers, weakly matched and unmatched channels ({ element, show, hide, setBusy }). */
export function createAlignList() {
  const element = el("section", { className: "align-list", hidden: true, "aria-label": "Channel alignment" });
  return {
    element,
    show(answer, otherName) {
      element.hidden = false;
      const pairs = new Map(answer.pairs.map((pair) => [pair.channel, pair]));
      const mean = answer.mean_correlation === null ? "–" : formatNumber(answer.mean_correlation);
      const share = answer.share_above === null ? "–" : formatPercent(answer.share_above);
      const weak = answer.weak.map((channel) => `ch ${channel} ↔ ch ${pairs.get(channel).other} (r ${pairs.get(channel).correlation.toFixed(2)})`);
      element.replaceChildren(
        el("h2", { className: "panel-title", text: `Channels aligned with ${otherName}` }),
        el("p", { className: "align-summary", text: `${answer.pairs.length} matched · mean r ${mean} · ${share} with r > ${answer.threshold}` }),
        line("align-weak", `Weakly matched (r < ${answer.threshold})`, weak),
        line(
          "align-unmatched",
          "Unmatched here",
          answer.unmatched.map((channel) => `ch ${channel}`),
        ),
        line(
          "align-other-unmatched",
          `Unmatched in ${otherName}`,
          answer.other_unmatched.map((channel) => `ch ${channel}`),
        ),
      );
    },
    hide() {
      element.hidden = true;
    },
    setBusy() {},
  };
}

function line(className, title, items) {
  return el("p", { className }, [el("strong", { text: `${title}: ` }), items.length ? items.join(", ") : "none"]);
}
