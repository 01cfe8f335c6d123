"""Images with known parts: a "face" of two eyes and a mouth at fixed offsets, anywhere, among distractors.

The ground truth every explanatory-graph test checks against: where the face and its parts are, and where
the distractors are. Distractors include lone eyes and lone mouths, so a filter that fires on eyes also
fires on them; only the eyes at the right place relative to a face belong to the face's part pattern.
A small CNN learns face present / absent in a few seconds on one CPU core (`trained_face_net`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SIZE = 48
# (dx, dy) of each part from the face centre, pixels (x right, y down)
PARTS = {"left_eye": (-6, -5), "right_eye": (6, -5), "mouth": (0, 6)}
_EYE = torch.ones(5, 5)
_EYE[1:4, 1:4] = 0  # a ring
_MOUTH = torch.ones(2, 7)  # a horizontal bar
_PLUS = torch.zeros(5, 5)
_PLUS[2, :] = _PLUS[:, 2] = 1
_SHAPES = {"eye": _EYE, "mouth": _MOUTH, "bar": torch.ones(7, 2), "plus": _PLUS}


@dataclass
class PartImages:
    """images (N, 1, SIZE, SIZE); faces (N, 2) face centres (x, y), NaN where no face; parts: name -> (N, 2);
    distractors: per image a list of (kind, x, y) centres of the shapes that are not part of a face."""

    images: torch.Tensor
    labels: torch.Tensor
    faces: torch.Tensor
    parts: dict[str, torch.Tensor]
    distractors: list[list[tuple[str, float, float]]]


def _stamp(image: torch.Tensor, shape: torch.Tensor, x: float, y: float) -> None:
    """Draw `shape` centred at (x, y) (the centre of its pixel box)."""
    height, width = shape.shape
    top, left = round(y - (height - 1) / 2), round(x - (width - 1) / 2)
    region = image[top : top + height, left : left + width]
    region.copy_(torch.maximum(region, shape[: region.shape[0], : region.shape[1]]))


def _free_spot(generator: torch.Generator, taken: list[tuple[float, float, float]], radius: float, margin: int):
    """A centre at least `radius` plus each taken spot's own radius away from it (a few tries, then any)."""
    for _ in range(50):
        x, y = (float(v) for v in torch.randint(margin, SIZE - margin, (2,), generator=generator))
        if all((x - tx) ** 2 + (y - ty) ** 2 >= (radius + tr) ** 2 for tx, ty, tr in taken):
            return x, y
    return x, y


def make_part_images(count: int, seed: int, face_share: float = 0.5, distractors: int = 3) -> PartImages:
    """`count` images, a face in `face_share` of them, each with `distractors` other shapes placed apart."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, SIZE, SIZE)
    labels = (torch.rand(count, generator=generator) < face_share).float()
    faces = torch.full((count, 2), float("nan"))
    parts = {name: torch.full((count, 2), float("nan")) for name in PARTS}
    placed: list[list[tuple[str, float, float]]] = []
    kinds = list(_SHAPES)
    for index in range(count):
        taken: list[tuple[float, float, float]] = []
        if labels[index]:
            x, y = _free_spot(generator, taken, 0, 11)
            faces[index] = torch.tensor([x, y])
            taken.append((x, y, 10.0))
            for name, (dx, dy) in PARTS.items():
                _stamp(images[index, 0], _EYE if "eye" in name else _MOUTH, x + dx, y + dy)
                parts[name][index] = torch.tensor([x + dx, y + dy])
        others = []
        for _ in range(distractors):
            kind = kinds[int(torch.randint(len(kinds), (1,), generator=generator))]
            x, y = _free_spot(generator, taken, 6, 5)
            taken.append((x, y, 6.0))
            _stamp(images[index, 0], _SHAPES[kind], x, y)
            others.append((kind, x, y))
        placed.append(others)
    images += 0.05 * torch.rand(images.shape, generator=generator)
    return PartImages(images, labels, faces, parts, placed)


def face_net() -> nn.Sequential:
    """Four 3x3 convs with three 2x2 pools: fields 8 px (4, jump 2) and 18 px (7, jump 4)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 1),
    )  # fmt: skip


def trained_face_net(seed: int = 0, count: int = 1024, epochs: int = 6) -> tuple[nn.Sequential, float]:
    """The face net trained on face present / absent; returns it and its accuracy on fresh images."""
    torch.manual_seed(seed)
    net = face_net()
    data = make_part_images(count, seed=seed + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed + 2)
    for _ in range(epochs):
        order = torch.randperm(count, generator=generator)
        for batch in order.split(32):
            optimizer.zero_grad()
            loss_fn(net(data.images[batch]).squeeze(1), data.labels[batch]).backward()
            optimizer.step()
    held_out = make_part_images(256, seed=seed + 3)
    with torch.no_grad():
        predicted = (net(held_out.images).squeeze(1) > 0).float()
    return net.eval(), float((predicted == held_out.labels).float().mean())
