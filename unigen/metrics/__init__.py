"""Metrics of generated samples and likelihood bounds.

Image metrics (IS, FID, KID, stacked-MNIST modes, conditional accuracy) use unigen's own classifier of
the data set (:func:`feature_classifier`: MNIST or Fashion-MNIST), not Inception v3, and their reported
names say which. Which metrics a run's evaluation computes is :mod:`unigen.metrics.evaluation`'s
protocol: each data set lists its own, the generic ones apply by role.
"""
from unigen.metrics.classifier import (MNISTClassifier, feature_network, feature_networks, classifier_logits, classify,
                                       conditional_accuracy, extract_features, feature_classifier,
                                       has_feature_classifier, mnist_classifier)
from unigen.metrics.fid import FID_NAME, fid, fid_name, frechet_distance
from unigen.metrics.inception import IS_NAME, inception_score, inception_score_from_logits
from unigen.metrics.kid import kernel_distance, kid, kid_name
from unigen.metrics.evaluation import METRICS, Evaluation, evaluate
from unigen.metrics.images import IMAGE_SCORES, image_scores
from unigen.metrics.likelihood import has_likelihood, likelihood_bounds
from unigen.metrics.modes import mode_stats
from unigen.metrics.precision_recall import precision_recall
from unigen.metrics.sliced import sliced_w1
from unigen.metrics.stacked import stacked_labels, stacked_mnist, stacked_modes

__all__ = ["METRICS", "Evaluation", "evaluate", "IMAGE_SCORES", "image_scores", "sliced_w1", "has_likelihood", "likelihood_bounds", "mode_stats",
           "MNISTClassifier", "mnist_classifier", "feature_network", "feature_networks", "feature_classifier", "has_feature_classifier",
           "extract_features", "classifier_logits", "classify",
           "conditional_accuracy", "IS_NAME", "inception_score", "inception_score_from_logits",
           "FID_NAME", "fid", "fid_name", "frechet_distance", "kid", "kid_name", "kernel_distance", "precision_recall",
           "stacked_mnist", "stacked_labels", "stacked_modes"]
