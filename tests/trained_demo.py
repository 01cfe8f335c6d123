"""The demo's FashionCNN trained briefly on real Fashion-MNIST, once per test session.

Class views need a model that has learned classes; one epoch on 4,000 images (a few seconds on two
CPU cores) reaches about 75% test accuracy, enough for predictions, fooling and class images to mean something.
"""

from __future__ import annotations

from functools import cache

import torch

from demo_training.data import batch_count, load_split, probe_batch
from demo_training.model import FashionCNN
from demo_training.train import make_model, make_optimizer, train_epoch

TRAIN_IMAGES = 4000
BATCH_SIZE = 64


@cache
def trained_fashion_cnn() -> tuple[FashionCNN, torch.Tensor]:
    """(model in eval mode, the demo's 10 probe images).

    The same model whichever test asks first: dropout draws from the global RNG, so training runs on
    a forked, seeded one (and the tests' own RNG state is left as it was).
    """
    with torch.random.fork_rng(devices=[]):
        model = make_model(seed=0)  # seeds the forked RNG: weights and dropout draw from it
        train = load_split("train").subset(TRAIN_IMAGES)
        optimizer, scheduler = make_optimizer(model, batch_count(train, BATCH_SIZE))
        train_epoch(model, train, optimizer, scheduler, epoch=0, batch_size=BATCH_SIZE, seed=0, progress=False)
    return model.eval(), probe_batch(load_split("test"))
