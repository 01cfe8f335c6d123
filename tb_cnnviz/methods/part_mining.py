"""Mining part patterns from peaks, top down: the estimators behind explanatory_graph.py.

A lower-layer pattern is a channel whose peaks keep a stable displacement from some upper-layer patterns
across images; a top-layer pattern, one whose peaks keep a stable displacement from the strongest peaks
of other top-layer channels (its peers: clustering by co-activation). Per channel, patterns are found one
at a time among the peaks not yet explained:

1. seed: the densest displacement mode from any one upper pattern (a 2-D histogram of
   peak - parent displacements with bins of the upper layer's jump, over the images where the parent
   was inferred), with a spread of half a bin;
2. hard EM (classification EM on a 2-D Gaussian per parent): E, in each image the pattern's predicted
   position is the inverse-variance weighted mean of parent position + mean displacement, and the pattern
   is inferred at the channel's free peak that scores best (activation times Gaussian fit) within
   GATE standard deviations per axis; M, the parents become (after the first E step, among all upper
   patterns; later, among the current parents) the `max_parents` upper patterns whose
   displacement to the inferred positions has the smallest spread among those inferred on at least half
   as many images, with a std under `max_spread` upper-layer jumps per axis and at most
   PARENT_SPREAD_RATIO times the tightest, with that displacement's mean and std (floored at half the
   layer's jump);
3. a pattern inferred on fewer than `min_support` images is not one; its channel stops there.

Peaks that no pattern claims are noise. Location instability follows Zhang et al.: the std over images
of the distance between the pattern and a reference part, over the image diagonal, averaged over
the references (without part labels: the pattern's parents, or a top pattern's peers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tb_cnnviz.methods.peaks import LayerPeaks

GATE = 3.0  # standard deviations per axis within which a peak may be the pattern's
EM_STEPS = 4
PARENT_SPREAD_RATIO = 2.0  # a further parent's displacement spread is at most this times the tightest one's


@dataclass
class MinedNode:
    """A pattern while mining: its parents (indices in the layer above) and where it was inferred."""

    layer: str
    channel: int
    parents: list[int]
    means: torch.Tensor  # (P, 2) mean displacement (dx, dy) from each parent
    spreads: torch.Tensor  # (P, 2) its std
    positions: torch.Tensor  # (N, 2) (x, y), NaN where not inferred
    scores: torch.Tensor  # (N,) 0 where not inferred
    units: torch.Tensor  # (N, 2) (row, col) of the peak, -1 where not inferred

    @property
    def support(self) -> int:
        return int((self.scores > 0).sum())


def best_per_group(groups: torch.Tensor, scores: torch.Tensor, count: int) -> torch.Tensor:
    """(count,) index of the highest-scoring element of each group, -1 for an empty group (ties: last index)."""
    best = torch.full((count,), -torch.inf, dtype=scores.dtype).scatter_reduce(0, groups, scores, "amax")
    winners = scores == best[groups]
    index = torch.arange(len(scores))
    return torch.full((count,), -1, dtype=torch.long).scatter_reduce(0, groups[winners], index[winners], "amax")


def _inferred(peaks: LayerPeaks, chosen: torch.Tensor, scores: torch.Tensor, count: int):
    """(positions, scores, units) per image of the chosen peak indices (-1: not inferred)."""
    found = chosen >= 0
    positions = torch.full((count, 2), torch.nan, dtype=torch.float64)
    units = torch.full((count, 2), -1, dtype=torch.long)
    positions[found] = peaks.position[chosen[found]]
    units[found] = peaks.unit[chosen[found]]
    return positions, torch.where(found, scores, torch.zeros_like(scores)), units


def channel_anchors(peaks: LayerPeaks, layer: str, count: int) -> list[MinedNode]:
    """Per channel (all of them, in order), its strongest peak in each image: what top patterns relate to."""
    channels = len(peaks.thresholds)
    chosen = best_per_group(peaks.image * channels + peaks.channel, peaks.value.double(), count * channels)
    chosen = chosen.reshape(count, channels)
    nodes = []
    for channel in range(channels):
        picks = chosen[:, channel]
        values = torch.zeros(count, dtype=torch.float64)
        values[picks >= 0] = peaks.value[picks[picks >= 0]].double()  # masked: there may be no peak at all
        positions, scores, units = _inferred(peaks, picks, values, count)
        nodes.append(MinedNode(layer, channel, [], torch.zeros(0, 2), torch.zeros(0, 2), positions, scores, units))
    return nodes


def infer_node(
    peaks: LayerPeaks,
    free: torch.Tensor,
    parents: torch.Tensor,
    means: torch.Tensor,
    spreads: torch.Tensor,
    count: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """E step: (positions, scores, units, chosen peak per image) of a pattern among the `free` peaks.

    parents (P, N, 2) their positions (NaN where absent); means, spreads (P, 2).
    """
    present = ~torch.isnan(parents[..., 0])  # (P, N)
    weights = present / spreads.square().sum(dim=1, keepdim=True)  # (P, N)
    total = weights.sum(dim=0)  # (N,)
    predicted = (torch.nan_to_num(parents + means[:, None]) * weights[..., None]).sum(0) / total[:, None]
    sigma = (spreads[:, None] * weights[..., None]).sum(0) / total[:, None]  # (N, 2), NaN where no parent
    candidates = free.nonzero().flatten()
    images = peaks.image[candidates]
    z = (peaks.position[candidates] - predicted[images]) / sigma[images]
    fits = (z.abs() <= GATE).all(dim=1)
    candidates, images, z = candidates[fits], images[fits], z[fits]
    scores = peaks.value[candidates].double() * torch.exp(-0.5 * z.square().sum(dim=1))
    best = best_per_group(images, scores, count)
    found = best >= 0  # masked indexing: no peak may fit on any image (a few probes), leaving nothing to index
    chosen = torch.full_like(best, -1)
    chosen[found] = candidates[best[found]]
    per_image = torch.zeros(count, dtype=torch.float64)
    per_image[found] = scores[best[found]]
    return (*_inferred(peaks, chosen, per_image, count), chosen)


def _displacements(positions: torch.Tensor, uppers: torch.Tensor, floor: float):
    """Per upper pattern: (co-support (J,), mean (J, 2), std (J, 2) floored) of positions - upper positions."""
    offsets = positions[None] - uppers  # (J, N, 2)
    both = ~torch.isnan(offsets[..., 0])
    support = both.sum(dim=1)
    filled = torch.nan_to_num(offsets)
    mean = filled.sum(dim=1) / support.clamp(min=1)[:, None]
    variance = ((filled - mean[:, None]) * both[..., None]).square().sum(dim=1) / (support - 1).clamp(min=1)[:, None]
    return support, mean, variance.sqrt().clamp(min=floor)


@dataclass(frozen=True)
class Fit:
    """How one layer's patterns are fitted: bin and spread bounds in input pixels, and the pattern budget."""

    bin_size: float  # the upper layer's jump: displacement histogram bins
    floor: float  # half this layer's jump: the least spread a displacement can show
    cap: float  # the most spread (per axis) of a stable displacement
    max_parents: int
    patterns_per_filter: int
    min_support: int


def _choose_parents(positions: torch.Tensor, uppers: torch.Tensor, fit: Fit, among: list[int] | None = None):
    """M step: the `max_parents` uppers (of `among`, default all) with the tightest displacement, among those
    seen on half the images with a spread within the cap."""
    index = torch.arange(len(uppers)) if among is None else torch.tensor(among, dtype=torch.long)
    support, mean, spread = _displacements(positions, uppers[index], fit.floor)
    own = int((~torch.isnan(positions[:, 0])).sum())
    eligible = (support * 2 >= max(own, 2)) & (spread <= fit.cap).all(dim=1)
    size = torch.where(eligible, spread.square().sum(dim=1), torch.inf)
    order = size.argsort()[: fit.max_parents]
    chosen = [int(j) for j in order if eligible[j] and size[j] <= PARENT_SPREAD_RATIO**2 * size[order[0]]]
    return index[chosen].tolist(), mean[chosen], spread[chosen]


def strongest_relation(
    peaks: LayerPeaks, free: torch.Tensor, uppers: torch.Tensor, bin_size: float, extent: int
) -> tuple[int, torch.Tensor, int]:
    """(upper pattern, displacement (2,), count) of the densest displacement mode of the free peaks."""
    positions, images = peaks.position[free], peaks.image[free]
    offsets = positions[None] - uppers[:, images]  # (J, M, 2)
    valid = ~torch.isnan(offsets[..., 0])
    half = int(extent // bin_size) + 2
    side = 2 * half + 1
    bins = (torch.nan_to_num(offsets) / bin_size).round().long().clamp(-half, half) + half
    flat = torch.arange(len(uppers))[:, None] * side * side + bins[..., 1] * side + bins[..., 0]
    histogram = torch.zeros(len(uppers) * side * side).index_add_(0, flat[valid], torch.ones(int(valid.sum())))
    best = int(histogram.argmax())
    upper, cell = divmod(best, side * side)
    row, col = divmod(cell, side)
    return (
        upper,
        torch.tensor([(col - half) * bin_size, (row - half) * bin_size], dtype=torch.float64),
        int(histogram[best]),
    )


def fit_node(
    peaks: LayerPeaks, free: torch.Tensor, uppers: torch.Tensor, seed: tuple[int, torch.Tensor], fit: Fit, count: int
) -> tuple[list[int], torch.Tensor, torch.Tensor, tuple] | None:
    """Hard EM from a seed relation: (parents, means, spreads, the last E step), None if it loses its parents."""
    parents = [seed[0]]
    means = seed[1][None]
    spreads = torch.full((1, 2), max(fit.bin_size / 2, fit.floor), dtype=torch.float64)
    for step in range(EM_STEPS):
        positions, _, _, chosen = infer_node(peaks, free, uppers[parents], means, spreads, count)
        if int((chosen >= 0).sum()) < 2:
            return None
        parents, means, spreads = _choose_parents(positions, uppers, fit, None if step == 0 else parents)
        if not parents:
            return None
    return parents, means, spreads, infer_node(peaks, free, uppers[parents], means, spreads, count)


def mine_layer(
    peaks: LayerPeaks, layer: str, upper: list[MinedNode], count: int, fit: Fit, same_layer: bool = False
) -> list[MinedNode]:
    """The patterns of one layer, given the patterns of the layer above; with `same_layer`, `upper` holds
    this layer's channels (one anchor each) and a channel never relates to itself."""
    if not upper:
        return []
    anchors = torch.stack([node.positions for node in upper])  # (J, N, 2)
    extent = max(peaks.geometry.rows.length, peaks.geometry.cols.length)
    nodes = []
    for channel in peaks.channel.unique().tolist():
        free = peaks.channel == channel
        uppers = anchors
        if same_layer:
            uppers = anchors.clone()
            uppers[channel] = torch.nan
        for _ in range(fit.patterns_per_filter):
            if int(free.sum()) < fit.min_support:
                break
            upper_index, displacement, density = strongest_relation(peaks, free, uppers, fit.bin_size, extent)
            fitted = (
                None
                if density < fit.min_support
                else fit_node(peaks, free, uppers, (upper_index, displacement), fit, count)
            )
            if fitted is None:
                break
            parents, means, spreads, (positions, scores, units, chosen) = fitted
            node = MinedNode(layer, channel, parents, means, spreads, positions, scores, units)
            if node.support < fit.min_support:
                break
            nodes.append(node)
            free[chosen[chosen >= 0]] = False
    return nodes


def node_instabilities(nodes: list[MinedNode], upper: list[MinedNode], image_size: tuple[int, int]) -> list[float]:
    """Each pattern's location instability, its parents (for the top layer, its peers) as reference parts."""
    return [location_instability(node.positions, [upper[j].positions for j in node.parents], image_size)
            for node in nodes]  # fmt: skip


def distance_spreads(positions: torch.Tensor, references: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """(R,) per reference (R, N, 2): std over images of |position - reference| / image diagonal; NaN if under 2."""
    diagonal = (image_size[0] ** 2 + image_size[1] ** 2) ** 0.5
    distance = (positions.double()[None] - references.double()).norm(dim=-1) / diagonal  # (R, N)
    seen = ~torch.isnan(distance)
    count = seen.sum(dim=1)
    filled = torch.nan_to_num(distance)
    mean = filled.sum(dim=1) / count.clamp(min=1)
    variance = ((filled - mean[:, None]) * seen).square().sum(dim=1) / (count - 1).clamp(min=1)
    return torch.where(count >= 2, variance.sqrt(), torch.nan)


def location_instability(positions: torch.Tensor, references: list[torch.Tensor], image_size: tuple[int, int]) -> float:
    """Zhang et al.'s location instability of a part at positions (N, 2) (NaN where absent) relative to
    reference parts (each (N, 2)): the mean over references of the std over images of their distance over
    the image diagonal. NaN when no reference shares two images with it."""
    if not references:
        return float("nan")
    spreads = distance_spreads(positions, torch.stack(references), image_size)
    spreads = spreads[~torch.isnan(spreads)]
    return float(spreads.mean()) if len(spreads) else float("nan")
