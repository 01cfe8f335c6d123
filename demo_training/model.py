"""The demo CNN: three conv blocks with BatchNorm, small enough to train in minutes on two CPU cores."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def _conv_block(index: int, in_channels: int, out_channels: int, pool: bool) -> list[tuple[str, nn.Module]]:
    """conv -> BN -> ReLU (-> 2x2 max pool), named convN, bnN, reluN, poolN so layer names read well."""
    block: list[tuple[str, nn.Module]] = [
        (f"conv{index}", nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)),
        (f"bn{index}", nn.BatchNorm2d(out_channels)),
        (f"relu{index}", nn.ReLU(inplace=True)),
    ]
    if pool:
        block.append((f"pool{index}", nn.MaxPool2d(2)))
    return block


class FashionCNN(nn.Module):
    """28x28 grey image -> 10 class logits. Conv layers: features.conv1 (28x28), conv2 (14x14), conv3 (7x7)."""

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 64), num_classes: int = 10) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            OrderedDict(
                _conv_block(1, 1, w1, pool=True)
                + _conv_block(2, w1, w2, pool=True)
                + _conv_block(3, w2, w3, pool=False)
            )
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(w3 * 7 * 7, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
