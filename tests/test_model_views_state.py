"""Every model-level view leaves the model as found (modes, requires_grad, grads, hooks) and the global RNG alone."""

from __future__ import annotations

import pytest
import torch
from test_maximize import assert_same_state, awkward_model, model_state

from tb_cnnviz.methods.activation_map import activation_map
from tb_cnnviz.methods.class_visualization import class_visualization
from tb_cnnviz.methods.fooling import fooling_images
from tb_cnnviz.methods.grad_cam import grad_cam
from tb_cnnviz.methods.saliency import saliency

VIEWS = {
    "saliency": lambda model, images: saliency(model, images),
    "grad_cam": lambda model, images: grad_cam(model, images, target=[1, 2]),
    "activation_map": lambda model, images: activation_map(model, images, "4"),
    "class_visualization": lambda model, images: class_visualization(model, [0, 5], size=28, steps=3),
    "fooling_images": lambda model, images: fooling_images(model, images, [3, 4], max_steps=3),
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_model_and_rng_left_as_found(view):
    model = awkward_model()
    images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    before = model_state(model)
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    VIEWS[view](model, images)
    assert torch.equal(torch.get_rng_state(), rng)
    assert_same_state(before, model_state(model))
    assert model[4].weight.grad is None
