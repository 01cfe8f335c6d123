"""class_visualization: every class's image is that class (trained demo model, and random weights at the default
objective); the raw score objective is the paper's; batching changes nothing."""

from __future__ import annotations

import pytest
import torch
from conftest import five_class_cnn
from trained_demo import trained_fashion_cnn

import tb_cnnviz
from demo_training.data import PIXEL_MEAN, PIXEL_STD
from tb_cnnviz.methods.class_visualization import _class_objective, class_visualization

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
    assert result.predicted.tolist() == list(range(10)) and result.objective == "log_softmax"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_the_default_each_class_image_wins_its_class_on_a_random_weak_model(seed):
    """Random weights separate classes weakly: the raw score (at the former l2 = 0.01) lets one class win
    several images; the default objective makes each image its own class's, as measured by the model."""
    model = five_class_cnn(seed)
    result = class_visualization(model, None, **{**SETTINGS, "steps": 64})
    with torch.no_grad():
        predicted = model((result.images - PIXEL_MEAN) / PIXEL_STD).argmax(dim=1)
    assert predicted.tolist() == list(range(5)) == result.predicted.tolist(), result.probabilities
    raw = class_visualization(model, None, **{**SETTINGS, "steps": 64}, objective="score", l2=1e-2)
    assert raw.predicted.tolist() != list(range(5)), "the raw score loses a class here: the test means something"


def test_each_objective_is_its_definition_minus_the_l2_penalty():
    """The raw "score" is S_c(I) - l2 * ||I||^2 (Simonyan et al., cs231n); the others replace S_c."""
    inputs = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model, classes = five_class_cnn(0), torch.tensor([4, 0, 2])
    with torch.no_grad():
        logits, penalty = model(inputs), 0.5 * inputs.pow(2).sum(dim=(1, 2, 3))
        own = logits[torch.arange(3), classes]
        expected = {
            "score": own - penalty,
            "log_softmax": logits.log_softmax(dim=1)[torch.arange(3), classes] - penalty,
            "margin": own - (logits.sum(dim=1) - own) / 4 - penalty,
        }
        for objective, value in expected.items():
            torch.testing.assert_close(_class_objective(model, classes, objective, 0.5)(inputs), value)
    short = {**SETTINGS, "steps": 4}
    raw = class_visualization(model, [1], **short, objective="score")
    assert raw.objective == "score" and not torch.equal(raw.images, class_visualization(model, [1], **short).images)
    with pytest.raises(ValueError, match=r"objective 'logit' is unknown; choose one of \['log_softmax', 'margin', "):
        class_visualization(model, [1], **short, objective="logit")


def test_the_penalty_keeps_images_closer_to_the_data_mean():
    model, _ = trained_fashion_cnn()
    short = {**SETTINGS, "steps": 16}
    weak, strong = (class_visualization(model, [0, 5, 8], **short, l2=l2).images for l2 in (0.0, 0.1))
    norm = lambda images: ((images - PIXEL_MEAN) / PIXEL_STD).pow(2).sum(dim=(1, 2, 3))  # noqa: E731
    assert torch.all(norm(strong) < norm(weak))


@pytest.mark.parametrize(("objective", "steps"), [("log_softmax", 64), ("score", 16)])
def test_one_class_at_a_time_equals_the_batch_and_chunks_do_too(objective, steps):
    """Equal up to float noise: convolutions may sum in another order for another batch size or thread count.
    The raw score's gradient does not depend on the forward's values, so it stays equal to 1e-3 at any step
    count. Log-softmax's does: once the noise flips a max-pool switch the images drift apart (on one CPU thread,
    by up to 0.044 at 64 steps, 0.003 on average, see class_visualization's docstring), so there the images must
    agree to well within what another class makes (0.22 on average when two classes swap places)."""
    model, _ = trained_fashion_cnn()
    short = {**SETTINGS, "steps": steps, "objective": objective}
    batched = class_visualization(model, [7, 2, 4], **short)
    alone = torch.cat([class_visualization(model, [index], **short).images for index in (7, 2)])
    chunked = class_visualization(model, [7, 2, 4], **short, memory_budget=1)
    for images, reference in ((alone, batched.images[:2]), (chunked.images, batched.images)):
        if objective == "score":
            torch.testing.assert_close(images, reference, rtol=0, atol=1e-3)
        else:
            difference = (images - reference).abs()
            assert difference.max() < 0.1 and difference.mean() < 0.01, (difference.max(), difference.mean())
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
