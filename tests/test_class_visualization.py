"""class_visualization: on the trained demo model every class's image is that class; batching changes nothing."""

from __future__ import annotations

import pytest
import torch
from trained_demo import trained_fashion_cnn

import tb_cnnviz
from demo_training.data import PIXEL_MEAN, PIXEL_STD
from tb_cnnviz.methods.class_visualization import class_visualization

SETTINGS = {"size": 28, "steps": 48, "input_mean": PIXEL_MEAN, "input_std": PIXEL_STD}


@pytest.fixture(scope="module")
def all_classes():
    model, _ = trained_fashion_cnn()
    return model, class_visualization(model, None, **SETTINGS)


def test_each_class_image_scores_its_class_above_every_other(all_classes):
    model, result = all_classes
    assert result.classes == list(range(10)) and result.images.shape == (10, 1, 28, 28)
    assert float(result.images.min()) >= 0 and float(result.images.max()) <= 1
    with torch.no_grad():  # measured independently: the model on the returned display-space images
        logits = model.eval()((result.images - PIXEL_MEAN) / PIXEL_STD)
    own = logits[torch.arange(10), torch.arange(10)]
    others = logits.masked_fill(torch.eye(10, dtype=torch.bool), float("-inf")).amax(dim=1)
    assert torch.all(own > others), (own, others)
    torch.testing.assert_close(result.scores, own)
    torch.testing.assert_close(result.probabilities, logits.softmax(dim=1).diagonal())


def test_the_penalty_keeps_images_closer_to_the_data_mean():
    model, _ = trained_fashion_cnn()
    short = {**SETTINGS, "steps": 16}
    weak, strong = (class_visualization(model, [0, 5, 8], **short, l2=l2).images for l2 in (0.0, 0.1))
    norm = lambda images: ((images - PIXEL_MEAN) / PIXEL_STD).pow(2).sum(dim=(1, 2, 3))  # noqa: E731
    assert torch.all(norm(strong) < norm(weak))


def test_one_class_at_a_time_equals_the_batch_and_chunks_do_too():
    """Equal up to float noise: convolutions may sum in another order for another batch size."""
    model, _ = trained_fashion_cnn()
    short = {**SETTINGS, "steps": 16}
    batched = class_visualization(model, [7, 2, 4], **short)
    alone = torch.cat([class_visualization(model, [index], **short).images for index in (7, 2)])
    torch.testing.assert_close(alone, batched.images[:2], rtol=0, atol=1e-3)
    chunked = class_visualization(model, [7, 2, 4], **short, memory_budget=1)
    torch.testing.assert_close(chunked.images, batched.images, rtol=0, atol=1e-3)
    assert chunked.classes == [7, 2, 4]


def test_seed_and_bad_classes():
    model, _ = trained_fashion_cnn()
    short = {**SETTINGS, "steps": 4}
    first = class_visualization(model, [3], **short)
    assert torch.equal(first.images, class_visualization(model, [3], **short).images)
    assert not torch.allclose(first.images, class_visualization(model, [3], **short, seed=1).images)
    with pytest.raises(ValueError, match="out of range"):
        class_visualization(model, [10], **SETTINGS)


def test_public_names():
    assert tb_cnnviz.class_visualization is class_visualization
    assert tb_cnnviz.ClassImages.__name__ == "ClassImages"
