"""A folder of images (``data.name=folder data.root=DIR``): PNG and JPEG files read with Pillow, resized to a
square, with class subfolders as labels (StudioGAN's most asked question: training on one's own images)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from unigen.data.base import TensorData, check_memory
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import bounded, check_choices, choice, count
from unigen.settings import seed as seed_setting

#: the image files read (by suffix, any case)
SUFFIXES = (".png", ".jpg", ".jpeg")


@DATASETS.register("folder")
@dataclass(frozen=True)
class ImageFolder:
    """Your own images: every PNG/JPEG under ``data.root``, resized to ``size`` × ``size``.

    :param root: the folder. Images directly in it are one unlabelled set; subfolders holding images are classes,
        labelled ``0..K-1`` in the sorted order of their names (as torchvision's ``ImageFolder``).
    :param size: the side images are resized to (a square; Pillow's bicubic resampling, after a centre crop to a
        square), e.g. 28, 32 or 64 for ``dcgan`` or ``resnet``.
    :param channels: 1 (greyscale) or 3 (RGB).
    :param support: ``unit`` ([0, 1]) or ``symmetric`` ([-1, 1]).
    :param test_fraction: the share of images held out as the test split (stratified by class, seeded).
    :param seed: the seed of that split.
    """

    #: no metric of its own: no feature network is trained for a user's images (generic metrics apply)
    metrics: ClassVar[tuple[str, ...]] = ()

    root: str = ""
    size: int = count(32, lo=4, hi=1024)
    channels: int = choice(3, (1, 3))
    support: str = choice("unit", ("unit", "symmetric"))
    test_fraction: float = bounded(0.1, 0, 1, hi_open=True)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        check_choices(self, "data.", "folder: ")

    @property
    def info(self) -> DataInfo:
        return DataInfo(shape=(self.channels, self.size, self.size), num_classes=len(self.files()[1]) or None,
                        support=self.support)

    def files(self) -> tuple[list[tuple[Path, int]], list[str]]:
        """The image files with their labels (-1 without classes), and the class names."""
        return _scan(self.root)

    def load(self, split: str = "train") -> TensorData:
        files, classes = self.files()
        check_memory(len(files) * self.channels * self.size ** 2 * 4, f"data set folder {self.root} ({split})",
                     "lower data.size, or use fewer images")
        labels = np.array([label for _, label in files])
        rng = np.random.default_rng(self.seed)
        test = np.zeros(len(files), dtype=bool)
        for label in np.unique(labels):  # stratified: a share of each class
            idx = np.flatnonzero(labels == label)
            test[rng.permutation(idx)[:int(round(self.test_fraction * len(idx)))]] = True
        keep = np.flatnonzero(test if split == "test" else ~test)
        if len(keep) == 0:
            raise UserError(f"data.root={self.root}: its {split} split is empty ({len(files)} images, "
                            f"data.test_fraction={self.test_fraction}); add images or change data.test_fraction")
        x = torch.stack([self._read(files[i][0]) for i in keep])
        if self.support == "symmetric":
            x = 2 * x - 1
        c = torch.as_tensor(labels[keep]) if classes else None
        info = DataInfo(shape=(self.channels, self.size, self.size), num_classes=len(classes) or None,
                        support=self.support)
        return TensorData(x, c, info, name=f"folder {self.root} ({split})")

    def _read(self, path: Path) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                side = min(im.size)
                left, top = (im.width - side) // 2, (im.height - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((self.size, self.size), Image.BICUBIC)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise UserError(f"{path} is not a readable image ({type(e).__name__}); remove it from data.root or "
                            f"replace it") from None
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())


@lru_cache(maxsize=8)
def _scan(root: str) -> tuple[list[tuple[Path, int]], list[str]]:
    if not root:
        raise UserError("data.name=folder needs data.root=DIR, a folder of PNG/JPEG images (class subfolders for "
                        "labels)")
    base = Path(root)
    if not base.is_dir():
        raise UserError(f"data.root={root} is {'a file' if base.exists() else 'missing'}, not a folder; give the "
                        f"folder of images")

    def images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)

    top = images(base)
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and images(d))
    if top and classes:
        raise UserError(f"data.root={root} holds images and class subfolders ({', '.join(classes[:3])}...); put the "
                        f"loose images into a subfolder of their own, or remove the subfolders")
    files = [(p, -1) for p in top] if top else [(p, i) for i, name in enumerate(classes) for p in images(base / name)]
    if not files:
        raise UserError(f"data.root={root} holds no {', '.join(SUFFIXES)} images; point it at a folder of images")
    return files, classes

