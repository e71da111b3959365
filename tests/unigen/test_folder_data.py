"""``data.name=folder``: a folder of PNG/JPEG images, class subfolders as labels, refusals in one line."""
import numpy as np
import pytest
import torch
from PIL import Image
from probes import cli, one_line

from unigen.data.folder import ImageFolder
from unigen.errors import UserError


def _images(folder, n, colour, size=(40, 30), suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, colour).save(folder / f"{i}{suffix}")


def test_class_subfolders_are_labels_and_images_are_resized_and_scaled(tmp_path):
    _images(tmp_path / "cats", 10, (255, 0, 0))
    _images(tmp_path / "dogs", 10, (0, 0, 255), suffix=".jpg")
    spec = ImageFolder(root=str(tmp_path), size=8, channels=3, support="symmetric", test_fraction=0.2)
    train, test = spec.load("train"), spec.load("test")
    assert train.x.shape == (16, 3, 8, 8) and test.x.shape == (4, 3, 8, 8)
    assert sorted(test.c.tolist()) == [0, 0, 1, 1]  # stratified: two of each class held out
    cats = train.x[train.c == 0]
    assert torch.allclose(cats[:, 0], torch.ones(1)) and torch.allclose(cats[:, 2], -torch.ones(1))  # red, in [-1, 1]
    assert spec.info.num_classes == 2 and spec.info.shape == (3, 8, 8)


def test_loose_images_are_one_unlabelled_set_in_greyscale(tmp_path):
    _images(tmp_path, 5, (128, 128, 128))
    data = ImageFolder(root=str(tmp_path), size=4, channels=1, test_fraction=0.0).load()
    assert data.c is None and data.x.shape == (5, 1, 4, 4)
    assert np.allclose(data.x.numpy(), 128 / 255, atol=1e-3)


def test_a_gan_trains_on_a_folder_from_the_command_line(tmp_path, capsys):
    _images(tmp_path / "imgs", 32, (200, 100, 50), size=(28, 28))
    code, err, out = cli(["train", "experiments/configs/ring_gan.yaml", "data.name=folder",
                          f"data.root={tmp_path / 'imgs'}", "data.size=28", "data.channels=1", "model.name=dcgan",
                          "model.ngf=8", "model.ndf=8", "train.steps=3", "train.batch_size=8", "train.progress=false",
                          "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert (tmp_path / "run" / "samples.png").is_file()


@pytest.mark.parametrize("setup, overrides, fragment", [
    (lambda d: None, [], "data.name=folder needs data.root=DIR"),
    (lambda d: d.mkdir(), ["data.root={d}"], "holds no .png, .jpg, .jpeg images"),
    (lambda d: (d.parent.mkdir(exist_ok=True), d.write_text("x")), ["data.root={d}"], "is a file, not a folder"),
    (lambda d: (_images(d, 2, (0, 0, 0)), _images(d / "sub", 2, (0, 0, 0))), ["data.root={d}"],
     "holds images and class subfolders"),
    (lambda d: (d.mkdir(), (d / "bad.png").write_bytes(b"not a png")), ["data.root={d}", "data.test_fraction=0"],
     "bad.png is not a readable image"),
    (lambda d: _images(d, 2, (0, 0, 0)), ["data.root={d}", "data.channels=2"], "data.channels=2 is not one of 1, 3"),
])
def test_bad_folders_are_one_line(setup, overrides, fragment, tmp_path, capsys):
    d = tmp_path / "imgs"
    setup(d)
    code, err, _ = cli(["train", "experiments/configs/ring_gan.yaml", "data.name=folder", "model.name=dcgan",
                        *[o.format(d=d) for o in overrides], "train.steps=2", "--out", tmp_path / "run"], capsys)
    one_line(code, err, fragment)


def test_the_spec_refuses_an_empty_root_from_python():
    with pytest.raises(UserError, match="needs data.root"):
        ImageFolder().load()
