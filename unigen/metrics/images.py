"""Scores of generated images with a data set's own classifier: the one image-metric path.

``unigen eval`` (:class:`unigen.metrics.evaluation.ImageMetrics`) and the MNIST reproductions
(``experiments/mnist_common.py``) both call :func:`image_scores`; they differ only in the reference set
(the test split, or the training digits) and in which scores they ask for.
"""
from __future__ import annotations

from torch import Tensor

from unigen.metrics.classifier import MNISTClassifier, extract_features
from unigen.metrics.fid import fid
from unigen.metrics.inception import inception_score
from unigen.metrics.kid import kid
from unigen.metrics.precision_recall import precision_recall

#: every score :func:`image_scores` computes, in the order it computes them
IMAGE_SCORES = ("is", "fid", "kid", "precision_recall")


def image_scores(real: Tensor, fake: Tensor, classifier: MNISTClassifier, support: str = "unit", splits: int = 10,
                 scores: tuple[str, ...] = IMAGE_SCORES) -> dict[str, float]:
    """IS (``splits`` parts), FID, KID and improved precision/recall of images ``fake`` against ``real``.

    Each is named after ``classifier``'s label ("IS (MNIST-classifier)", "FID (MNIST-classifier
    features)"); with FID or KID the sizes of both sets are recorded (``fid_samples``,
    ``fid_reference_size``).

    :param real: reference images ``(N, 1, H, W)`` in ``support`` (a test split, or training images).
    :param fake: generated images of the same shape and support.
    :param scores: the subset of :data:`IMAGE_SCORES` to compute (always in that order).
    """
    unknown = set(scores) - set(IMAGE_SCORES)
    if unknown:
        raise ValueError(f"unknown image scores {sorted(unknown)}; choose from {IMAGE_SCORES}")
    out: dict[str, float] = {}
    if "is" in scores:
        out.update(inception_score(fake, classifier, splits=splits, support=support))
    if "fid" in scores:
        out.update(fid(real, fake, classifier, support=support))
    if "kid" in scores:
        out.update(kid(real, fake, classifier, support=support))
    if "fid" in scores or "kid" in scores:
        out.update(fid_samples=fake.shape[0], fid_reference_size=real.shape[0])  # the sets of FID and KID
    if "precision_recall" in scores:
        out.update(precision_recall(extract_features(real, classifier, support=support),
                                    extract_features(fake, classifier, support=support)))
    return out
