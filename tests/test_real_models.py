"""At the size people train: torchvision's resnet18 on 32 px images with every kind on at its defaults.

The callback picks a representative few of its 20 convs and says which, logs each kind at its own cadence
(filter images every 10th log, deconvnet every 2nd, the rest every log), and leaves training bit for bit
as it is without it. Kept small: 2 probes, 8 channels a layer, 3 training steps of 16 images.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tb_cnnviz import CNNVizCallback, DefaultLayersWarning
from tb_cnnviz.writer.kinds import kind_names
from tests.conftest import read_cnnviz_events

torchvision = pytest.importorskip("torchvision")

CHOSEN = ["conv1", "layer1.1.conv2", "layer2.1.conv2", "layer3.1.conv2", "layer4.1.conv2"]
STEPS = 3


def train(log_dir=None) -> dict[str, torch.Tensor]:
    """resnet18 (weights=None, 10 classes) after STEPS SGD steps on fixed random batches, logging after each."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(16, 3, 32, 32, generator=generator), torch.randint(0, 10, (16,), generator=generator))
               for _ in range(STEPS)]  # fmt: skip
    probes = torch.randn(2, 3, 32, 32, generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    viz = None
    if log_dir is not None:
        with pytest.warns(DefaultLayersWarning) as caught:
            viz = CNNVizCallback(model, probes, log_dir=str(log_dir), kinds=kind_names(), max_channels=8)
        message = str(caught[0].message)
        assert all(name in message for name in CHOSEN) and 'layers="all"' in message, message
        assert list(viz.layers) == CHOSEN
    model.train()
    for step, (images, labels) in enumerate(batches):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if viz is not None:
            viz.log(step)
    if viz is not None:
        viz.close()
    return model.state_dict()


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads that wait for each other run 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resnet18_at_32px_logs_a_representative_few_layers_each_kind_at_its_cadence_and_training_unchanged(
    tmp_path, one_thread
):
    watched = train(tmp_path)
    plain = train()
    assert plain.keys() == watched.keys()
    for key, value in plain.items():
        assert torch.equal(value, watched[key]), f"{key} differs: logging changed training"

    events = read_cnnviz_events(tmp_path)
    every_step, cadence = set(range(STEPS)), {"feature_maps": {0, 1, 2}, "filters": {0}, "deconv": {0, 2}}
    cadence["dynamics"] = every_step
    layer_tags = {tag for tag in events if tag.split("/")[0] in CHOSEN}
    assert layer_tags == {f"{layer}/{kind}" for layer in CHOSEN for kind in cadence}, "only the chosen layers"
    for layer in CHOSEN:
        for kind, steps in cadence.items():
            assert events[f"{layer}/{kind}"].keys() == steps, f"{layer}/{kind}"
    for kind in kind_names("model"):
        assert events[f"model/{kind}"].keys() == every_step, kind
    assert set(events) == layer_tags | {f"model/{kind}" for kind in kind_names("model")} | {"probes"}
