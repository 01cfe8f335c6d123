"""top_activations: equal to brute force over the whole set, patches under the field, streaming memory."""

from __future__ import annotations

import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tb_cnnviz import deconvnet, top_activations


def small_net() -> nn.Sequential:
    """Field of "3" by hand: conv3 p1 (3, 1, -1), pool2 (4, 2, -1), conv3 p1 (8, 2, -3)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU()
    )


def test_equals_brute_force_over_the_whole_set():
    net = small_net()
    images = torch.randn(23, 2, 18, 18, generator=torch.Generator().manual_seed(1))
    channels = [0, 2, 4]
    result = top_activations(net, images, "3", channels=channels, k=4, batch_size=5, progress=False)
    with torch.no_grad():
        maps = net[:4](images)[:, channels]  # (23, 3, 9, 9)
    strongest, where = maps.flatten(2).max(dim=2)
    values, indices = strongest.T.topk(4, dim=1)
    assert result.channels == channels and result.count == 23
    torch.testing.assert_close(result.values, values)
    assert torch.equal(result.indices, indices)
    flat = where.T.gather(1, indices)
    assert torch.equal(result.positions, torch.stack([flat // 9, flat % 9], dim=-1))
    padded = F.pad(images, (3, 8, 3, 8))  # the field of unit (r, c) is rows 2r-3 .. 2r+4: zeros past the border
    for k in range(3):
        for rank in range(4):
            row, col = result.positions[k, rank].tolist()
            expected = padded[indices[k, rank], :, 2 * row : 2 * row + 8, 2 * col : 2 * col + 8]
            assert torch.equal(result.patches[k, rank], expected)
            top, left = max(2 * row - 3, 0), max(2 * col - 3, 0)
            assert result.boxes[k, rank].tolist() == [top, left, min(2 * row + 5, 18), min(2 * col + 5, 18)]


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_projections_equal_deconvnet_on_the_full_input(rule):
    net = small_net()
    images = torch.randn(12, 2, 18, 18, generator=torch.Generator().manual_seed(2))
    result = top_activations(net, images, "3", channels=[1, 3], k=3, batch_size=4, project=rule, progress=False)
    padded_size = result.patches.shape[-2:]
    for k, channel in enumerate([1, 3]):
        for rank in range(3):
            index = int(result.indices[k, rank])
            full = deconvnet(net, images[index : index + 1], "3", channels=[channel], rule=rule)
            row, col = result.positions[k, rank].tolist()
            projection = F.pad(full.projections[0, 0], (3, 8, 3, 8))[:, 2 * row : 2 * row + 8, 2 * col : 2 * col + 8]
            assert projection.shape[-2:] == padded_size
            torch.testing.assert_close(result.projections[k, rank], projection, rtol=0, atol=1e-6)


def test_a_dataloader_of_tuples_gives_the_same_result_as_a_tensor():
    net = small_net()
    images = torch.randn(10, 2, 18, 18, generator=torch.Generator().manual_seed(3))
    loader = DataLoader(TensorDataset(images, torch.zeros(10)), batch_size=3)
    from_loader = top_activations(net, loader, "3", k=5, progress=False)
    from_tensor = top_activations(net, images, "3", k=5, batch_size=4, progress=False)
    torch.testing.assert_close(from_loader.values, from_tensor.values)
    assert torch.equal(from_loader.patches, from_tensor.patches)


def test_streams_batches_without_keeping_them():
    """Each batch may be freed once the next is asked for; the result holds no view of any batch."""
    net = small_net()
    alive: list[weakref.ref] = []
    worst = 0

    def batches():
        nonlocal worst
        generator = torch.Generator().manual_seed(4)
        for _ in range(40):
            worst = max(worst, sum(ref() is not None for ref in alive))
            batch = torch.randn(8, 2, 18, 18, generator=generator)
            alive.append(weakref.ref(batch))
            yield batch
            del batch

    result = top_activations(net, batches(), "3", k=9, progress=False)
    assert result.count == 320
    assert worst <= 1  # only the batch being processed
    assert all(ref() is None for ref in alive)


def test_fewer_inputs_than_k():
    result = top_activations(small_net(), torch.randn(3, 2, 18, 18), "3", k=9, progress=False)
    assert result.values.shape == (5, 3)
    assert result.patches.shape == (5, 3, 2, 8, 8)


def test_model_is_left_as_found():
    net = small_net().train()
    net[0].weight.requires_grad_(False)
    modes = [module.training for module in net.modules()]
    top_activations(net, torch.randn(6, 2, 18, 18), "3", k=2, project="guided", progress=False)
    assert [module.training for module in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == [False, True, True, True]
    assert all(p.grad is None for p in net.parameters())
    assert all(not module._forward_hooks for module in net.modules())
    assert torch._C._len_torch_function_stack() == 0
