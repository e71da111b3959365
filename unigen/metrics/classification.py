"""Classification accuracy of a semi-supervised model's q(y|x) (Hu et al.'s SVAE rows)."""
from __future__ import annotations

import torch

from unigen.errors import UserError
from unigen.programs import Programs


@torch.no_grad()
def classifier_accuracy(programs: Programs, data, batch_size: int = 1000, logits=None) -> float:
    r"""Fraction of the labelled examples of ``data`` whose label is the mode of :math:`q_\phi(y \mid x)`.

    The accuracy of Hu et al.'s (2018) semi-supervised rows (SVAE, AA-SVAE). Unlabelled examples
    (``c = -1``) are skipped. Reads the host once per chunk: an evaluation, not a training step.

    :param programs: programs with a ``classifier`` role returning logits ``(batch, K)``.
    :param data: a labelled :class:`~unigen.data.base.TensorData` (e.g. the test split).
    :param logits: another ``x -> (batch, K)`` logits function of the programs to score instead (a label
        model's own, such as ``dann``'s ``programs.model.logits``).
    """
    if logits is None and not programs.has("classifier"):
        raise UserError(f"accuracy needs a model with a classifier role, but it has only "
                        f"{', '.join(programs.roles)}; use model.name=ssvae")
    if data.c is None:
        raise UserError(f"accuracy needs labelled data, but {data.name} has no labels; use e.g. mnist")
    device = next(iter(programs.parameters()), data.x).device
    was_training = programs.training
    programs.eval()
    correct, total = 0, 0
    for start in range(0, len(data), batch_size):
        x = data.x[start:start + batch_size].to(device)
        c = data.c[start:start + batch_size].to(device)
        labelled = c >= 0
        correct += int((((logits or programs.classifier)(x).argmax(-1) == c) & labelled).sum())
        total += int(labelled.sum())
    programs.train(was_training)
    if total == 0:
        raise UserError(f"accuracy needs labelled examples, but every example of {data.name} is unlabelled; "
                        f"use the test split")
    return correct / total
