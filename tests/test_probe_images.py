"""Probe images for the command line from a folder, a tensor file or Fashion-MNIST, as the model takes them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tb_cnnviz.cli import fashion_mnist
from tb_cnnviz.cli.probe_images import ProbeImageError, load_probe_images


def write_image(path, size=(6, 5), color=(51, 102, 153)) -> None:
    Image.new("RGB", size, color).save(path)


def test_a_folder_loads_in_name_order_converted_to_the_models_channels_and_normalized(tmp_path):
    write_image(tmp_path / "b_dog.png", color=(51, 51, 51))
    write_image(tmp_path / "a_cat.png", color=(102, 102, 102))
    (tmp_path / "notes.txt").write_text("not an image")

    grey = load_probe_images(str(tmp_path), 1, input_mean=[0.5], input_std=[0.25])
    assert grey.images.shape == (2, 1, 5, 6) and grey.images.dtype == torch.float32
    assert grey.labels == ["a_cat", "b_dog"]
    assert torch.allclose(grey.images[0], torch.full((1, 5, 6), (0.4 - 0.5) / 0.25))
    assert torch.allclose(grey.images[1], torch.full((1, 5, 6), (0.2 - 0.5) / 0.25))
    assert (grey.input_mean, grey.input_std) == ([0.5], [0.25])

    rgb = load_probe_images(str(tmp_path), 3, size=(4, 3))
    assert rgb.images.shape == (2, 3, 4, 3)
    assert torch.allclose(rgb.images[1, :, 0, 0], torch.tensor([0.2, 0.2, 0.2]))


def test_tensor_files_float_as_given_uint8_as_pixels(tmp_path):
    normalized = torch.randn(3, 1, 8, 8)
    torch.save(normalized, tmp_path / "probes.pt")
    assert torch.equal(load_probe_images(str(tmp_path / "probes.pt"), 1).images, normalized)

    pixels = np.full((2, 3, 4, 4), 255, dtype=np.uint8)
    np.save(tmp_path / "pixels.npy", pixels)
    loaded = load_probe_images(str(tmp_path / "pixels.npy"), 3, input_mean=[0.5, 0.5, 0.5], input_std=[0.5])
    assert torch.allclose(loaded.images, torch.ones(2, 3, 4, 4))
    assert loaded.labels is None
    assert loaded.input_std == [0.5, 0.5, 0.5], "one value holds for every channel, as the callback takes it"


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 28, 28), np.float32), r"holds shape \(4, 28, 28\); probe images must be \(N, C, H, W\)"),
        (
            np.zeros((4, 3, 28, 28), np.float32),
            r"holds images with 3 channels, shape \(4, 3, 28, 28\); the model takes 1",
        ),
        (np.zeros((4, 1, 28, 28), np.int64), r"holds torch.int64 values; use float"),
    ],
)
def test_tensors_of_the_wrong_shape_or_type_say_what_is_wrong(tmp_path, array, message):
    np.save(tmp_path / "probes.npy", array)
    with pytest.raises(ProbeImageError, match=message):
        load_probe_images(str(tmp_path / "probes.npy"), 1)


def test_folder_problems_say_what_is_wrong(tmp_path):
    with pytest.raises(ProbeImageError, match="no such file or folder; give a folder of image files"):
        load_probe_images(str(tmp_path / "missing"), 1)
    with pytest.raises(ProbeImageError, match="holds no image files"):
        load_probe_images(str(tmp_path), 1)
    write_image(tmp_path / "a.png", size=(28, 28))
    write_image(tmp_path / "b.png", size=(32, 30))
    with pytest.raises(ProbeImageError, match=r"differ in size \(a.png is 28x28; b.png is 30x32\); pass --image-size"):
        load_probe_images(str(tmp_path), 1)
    with pytest.raises(ProbeImageError, match="--input-mean has 2 values; give 1 or one per channel"):
        load_probe_images(str(tmp_path), 3, size=(8, 8), input_mean=[0.1, 0.2])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ProbeImageError, match=r"cannot read .*broken\.png as an image"):
        load_probe_images(str(tmp_path), 1, size=(8, 8))


def test_fashion_mnist_gives_one_normalized_test_image_per_class_as_the_demo_trains_on():
    from demo_training.data import load_split, probe_batch

    probes = load_probe_images("fashion-mnist", 1)
    assert probes.images.shape == (10, 1, 28, 28)
    assert probes.labels == fashion_mnist.CLASS_NAMES
    assert (probes.input_mean, probes.input_std) == ([fashion_mnist.PIXEL_MEAN], [fashion_mnist.PIXEL_STD])
    torch.testing.assert_close(probes.images, probe_batch(load_split("test")), rtol=0, atol=0)


def test_the_library_never_imports_the_repositorys_demo():
    code = (
        "import sys; from tb_cnnviz.cli import main; from tb_cnnviz.cli.probe_images import load_probe_images; "
        "load_probe_images('fashion-mnist', 1); sys.exit('demo_training' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
