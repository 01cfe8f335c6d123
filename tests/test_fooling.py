"""fooling_images: the trained demo model is fooled for nearly every (probe, wrong class) pair, checked apart."""

from __future__ import annotations

import pytest
import torch
from trained_demo import trained_fashion_cnn

import tb_cnnviz
from demo_training.data import PIXEL_MEAN, PIXEL_STD
from tb_cnnviz.methods.fooling import fooling_images

MAX_STEPS = 100
NORMALIZATION = {"input_mean": PIXEL_MEAN, "input_std": PIXEL_STD}


@pytest.fixture(scope="module")
def every_wrong_class():
    """Each of the 10 probes pushed to each class it is not predicted as: 90 (image, target) pairs."""
    model, probes = trained_fashion_cnn()
    with torch.no_grad():
        predicted = model.eval()(probes).argmax(dim=1)
    pairs = [(index, target) for index in range(len(probes)) for target in range(10) if target != predicted[index]]
    images = probes[[index for index, _ in pairs]]
    targets = torch.tensor([target for _, target in pairs])
    return model, images, targets, fooling_images(model, images, targets, max_steps=MAX_STEPS, **NORMALIZATION)


def test_at_least_95_percent_fooled_within_the_budget(every_wrong_class):
    model, _, targets, result = every_wrong_class
    assert float(result.succeeded.float().mean()) >= 0.95, result.succeeded.float().mean()
    with torch.no_grad():  # measured independently: the model on the returned display-space images
        logits = model((result.images - PIXEL_MEAN) / PIXEL_STD)
    assert torch.equal(result.succeeded, logits.argmax(dim=1) == targets)
    torch.testing.assert_close(result.probabilities, logits.softmax(dim=1)[torch.arange(len(targets)), targets])
    assert torch.equal(result.targets, targets)
    assert torch.all(result.steps[result.succeeded] <= MAX_STEPS) and torch.all(result.steps[result.succeeded] >= 1)
    assert torch.all(result.steps[~result.succeeded] == MAX_STEPS)


def test_largest_pixel_change_is_reported_and_images_stay_displayable(every_wrong_class):
    _, images, _, result = every_wrong_class
    originals = images * PIXEL_STD + PIXEL_MEAN
    torch.testing.assert_close(result.originals, originals)
    change = (result.images - originals).abs().flatten(1).amax(dim=1)
    torch.testing.assert_close(result.max_change, change)
    assert torch.all(result.max_change > 0) and torch.all(result.max_change <= 1)
    assert float(result.images.min()) >= 0 and float(result.images.max()) <= 1


def test_an_image_already_of_the_target_class_is_left_alone_and_a_zero_budget_fails():
    model, probes = trained_fashion_cnn()
    with torch.no_grad():
        predicted = model.eval()(probes[:3]).argmax(dim=1)
    same = fooling_images(model, probes[:3], predicted, max_steps=MAX_STEPS, **NORMALIZATION)
    assert torch.all(same.succeeded) and torch.all(same.steps == 0) and torch.all(same.max_change == 0)
    none = fooling_images(model, probes[:3], (predicted + 1) % 10, max_steps=0, **NORMALIZATION)
    assert not torch.any(none.succeeded) and torch.all(none.max_change == 0)
    with pytest.raises(ValueError, match="target_classes is required"):
        fooling_images(model, probes[:3], None, max_steps=MAX_STEPS)


def test_public_names():
    assert tb_cnnviz.fooling_images is fooling_images
    assert tb_cnnviz.FoolingImages.__name__ == "FoolingImages"
