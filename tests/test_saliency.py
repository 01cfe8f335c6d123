"""saliency: exactly |d score / d input| max over channels, computed image by image with plain autograd."""

from __future__ import annotations

import pytest
import torch
from conftest import small_cnn

import tb_cnnviz
from tb_cnnviz.methods.saliency import saliency


def gradient_by_hand(model, images: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """One image at a time, eval mode: the definition, without batching."""
    model.eval()
    maps = []
    for image, label in zip(images, classes, strict=True):
        inputs = image[None].clone().requires_grad_(True)
        model(inputs)[0, label].backward()
        maps.append(inputs.grad[0].abs().amax(dim=0))
    model.zero_grad(set_to_none=True)
    return torch.stack(maps)


@pytest.fixture
def model_and_images():
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    return small_cnn(3), torch.randn(4, 3, 28, 28, generator=generator)


def test_predicted_class_by_default(model_and_images):
    model, images = model_and_images
    with torch.no_grad():
        predicted = model.eval()(images).argmax(dim=1).tolist()
    maps = saliency(model.train(), images)
    assert maps.shape == (4, 28, 28) and maps.dtype == torch.float32
    torch.testing.assert_close(maps, gradient_by_hand(model, images, predicted), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("target", [7, [0, 3, 3, 9], torch.tensor([9, 8, 7, 6])])
def test_given_targets(model_and_images, target):
    model, images = model_and_images
    classes = [7] * 4 if isinstance(target, int) else [int(value) for value in target]
    torch.testing.assert_close(
        saliency(model, images, target), gradient_by_hand(model, images, classes), rtol=1e-4, atol=1e-7
    )


def test_bad_targets_and_models_are_explained(model_and_images):
    model, images = model_and_images
    with pytest.raises(ValueError, match="out of range"):
        saliency(model, images, 10)
    with pytest.raises(ValueError, match="one per image"):
        saliency(model, images, [1, 2])
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        saliency(model[:3], images)


def test_public_name():
    assert tb_cnnviz.saliency is saliency
