"""The metric protocol: which metrics a run's evaluation computes, and in what order.

A **metric** is an object with

* ``generic``: ``True`` if it applies to any data set by the programs' roles alone, ``False`` if it
  applies only to the data sets that list it;
* ``applies(ev) -> bool``: whether it applies to this evaluation (roles, settings);
* ``__call__(ev) -> dict``: its values, under the names that ``eval.json`` carries.

Each data set spec lists its own metrics by name in a ``metrics`` class attribute (``Ring.metrics =
("modes",)``, ``MNIST.metrics = ("images",)``, ``NPZ.metrics = ()``). :data:`METRICS` maps the names to
the metric objects; :func:`evaluate` runs, in the table's order, every metric that the data set lists
or that is generic, and that applies. The table's order is the evaluation's order, so the random draws
of one metric do not depend on which others run before it in another data set: the numbers are
reproducible. When no metric applies, the result is ``{"note": "..."}``, one line saying why.

A new metric enters here: a class below (its maths in a module of its own) and a row of :data:`METRICS`;
a data set that should get it names it in its ``metrics``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from unigen.metrics.classification import classifier_accuracy
from unigen.metrics.classifier import conditional_accuracy, feature_classifier
from unigen.metrics.images import image_scores
from unigen.metrics.likelihood import has_likelihood, likelihood_bounds
from unigen.metrics.modes import mode_stats
from unigen.metrics.stacked import NUM_MODES, stacked_modes
from unigen.programs import Programs


@dataclass
class Evaluation:
    """What a metric may read: the trained programs, the data, the ``eval`` settings and a sampler.

    :param programs: the trained programs (eval mode).
    :param data: the data set spec (its ``load(split)``, ``support``, ``centres()``, ...).
    :param train: the training split the programs were built for.
    :param device: where the programs are.
    :param settings: the run's ``eval`` section (:class:`unigen.config.EvalConfig`).
    :param draw: ``draw(n) -> (x, c)``: ``n`` samples and the labels they were drawn with (``None``
        when unconditional).
    :param conditional: whether generation depends on the label (a conditional model).
    """

    programs: Programs
    data: Any
    train: Any
    device: torch.device
    settings: Any
    draw: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
    conditional: bool = False

    @functools.cached_property
    def test(self):
        """The test split on :attr:`device`, loaded once, when a metric first asks for it."""
        return self.data.load("test").to(self.device)


class Metric(Protocol):
    generic: bool

    def applies(self, ev: Evaluation) -> bool: ...

    def __call__(self, ev: Evaluation) -> dict[str, float]: ...


class ModeCoverage:
    """Modes captured, high-quality fraction and KL over modes of ``eval.num_samples`` samples (ring, grid)."""

    generic = False

    def applies(self, ev: Evaluation) -> bool:
        return True

    def __call__(self, ev: Evaluation) -> dict[str, float]:
        x, _ = ev.draw(ev.settings.num_samples)
        return mode_stats(x.cpu(), ev.data.centres(), ev.data.std)


class StackedModeCoverage:
    """Modes hit (of 1,000) and KL(p̂ ‖ U(1000)) of ``eval.num_samples`` stacked-MNIST samples, each channel
    read by the MNIST classifier of the data's own digits (the VEEGAN/PacGAN protocol draws 26,000)."""

    generic = False
    chunk = 2000  # samples drawn at a time (26,000 images at once would hold every activation)

    def applies(self, ev: Evaluation) -> bool:
        return True

    def __call__(self, ev: Evaluation) -> dict[str, Any]:
        classifier, accuracy = feature_classifier(ev.data.digits(), device=ev.device)
        n = ev.settings.num_samples
        x = torch.cat([ev.draw(min(self.chunk, n - i))[0] for i in range(0, n, self.chunk)])
        found = stacked_modes(x, classifier, support=ev.data.support)
        return {"modes": found["modes"], "kl_modes": found["kl_uniform"], "num_modes": NUM_MODES,
                "modes_confident": found["modes_confident"], "confident_fraction": found["confident_fraction"],
                "computed_on": {"stacked_modes": {
                    "generated_samples": n, "feature_network": f"{classifier.label} CNN trained by unigen, per channel",
                    "feature_network_test_accuracy": float(accuracy)}}}


class LikelihoodBounds:
    """Test ELBO and IWAE(``eval.iw_samples``) bound, for programs with a guide and a density at ``x``."""

    generic = True

    def applies(self, ev: Evaluation) -> bool:
        return has_likelihood(ev.programs, ev.train)

    def __call__(self, ev: Evaluation) -> dict[str, float]:
        return likelihood_bounds(ev.programs, ev.test, k=ev.settings.iw_samples, max_batches=ev.settings.test_batches)


class ImageMetrics:
    """IS, FID, KID and precision/recall of ``eval.num_images`` samples against as many test images, with
    the data set's own classifier (no Inception weights can be downloaded, and the names say so);
    conditional accuracy for conditional models. Off with ``eval.image_metrics=false``."""

    generic = False

    def applies(self, ev: Evaluation) -> bool:
        return bool(ev.settings.image_metrics)

    def __call__(self, ev: Evaluation) -> dict[str, float]:
        test = ev.test
        classifier, accuracy = feature_classifier(ev.data, device=ev.device)
        n = ev.settings.num_images
        fake, labels = ev.draw(n)
        real = test.x[:n]
        out = image_scores(real, fake, classifier, support=ev.data.support)
        if labels is not None and labels.shape[0] == fake.shape[0] and ev.conditional:
            out["conditional_accuracy"] = conditional_accuracy(fake, labels, classifier, support=ev.data.support)
        # what the numbers were computed on, beside them in eval.json
        out["computed_on"] = {"image_metrics": {
            "generated_samples": int(fake.shape[0]), "reference": "test split", "reference_size": int(real.shape[0]),
            "feature_network": f"{getattr(classifier, 'label', 'classifier')} CNN trained by unigen",
            "feature_network_test_accuracy": float(accuracy)}}
        return out


class ClassifierAccuracy:
    """Test accuracy of q(y|x), for programs with a ``classifier`` role (semi-supervised models)."""

    generic = True

    def applies(self, ev: Evaluation) -> bool:
        return ev.programs.has("classifier")

    def __call__(self, ev: Evaluation) -> dict[str, float]:
        return {"test_accuracy": classifier_accuracy(ev.programs, ev.test)}


class LabelModelAccuracy:
    """Test accuracy of a model that labels its inputs (``model.logits``: DANN's label model), listed by a data
    set whose test split is the domain it is judged on (``mnist_to_digits``: the target digits)."""

    generic = False

    def applies(self, ev: Evaluation) -> bool:
        return callable(getattr(ev.programs.model, "logits", None))

    def __call__(self, ev: Evaluation) -> dict[str, float]:
        with torch.no_grad():
            return {"test_label_accuracy": classifier_accuracy(ev.programs, ev.test, logits=ev.programs.model.logits)}


#: name -> metric, in the order an evaluation runs them
METRICS: dict[str, Metric] = {
    "modes": ModeCoverage(),
    "stacked_modes": StackedModeCoverage(),
    "likelihood": LikelihoodBounds(),
    "images": ImageMetrics(),
    "accuracy": ClassifierAccuracy(),
    "label_accuracy": LabelModelAccuracy(),
}


def listed(data) -> tuple[str, ...]:
    """The metric names data set spec ``data`` lists; an unknown name is refused."""
    names = tuple(data.metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"{type(data).__name__}.metrics names unknown metrics {unknown}; known: {sorted(METRICS)}")
    return names


def evaluate(ev: Evaluation) -> dict[str, Any]:
    """The values of every metric that applies, or ``{"note": ...}`` when none does."""
    own = listed(ev.data)
    out: dict[str, Any] = {}
    ran = False
    for name, metric in METRICS.items():
        if (metric.generic or name in own) and metric.applies(ev):
            out.update(metric(ev))
            ran = True
    if not ran:
        out["note"] = no_metric_note(ev, own)
    return out


def no_metric_note(ev: Evaluation, own: tuple[str, ...]) -> str:
    name = getattr(ev.data, "registry_name", type(ev.data).__name__)
    lists = f"lists {', '.join(own)}, which do not apply" if own else "lists no metrics of its own"
    if "images" in own and not ev.settings.image_metrics:
        lists += " (eval.image_metrics=false turns the image metrics off)"
    return (f"no metric applies to {name} data with these programs (roles: {', '.join(ev.programs.roles)}): "
            f"the data set {lists}; likelihood bounds need a guide and a model with a density at x, "
            f"accuracy a classifier role")
