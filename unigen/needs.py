r"""What a strategy needs of the programs and the data: one frozen value, checked once before training.

A strategy declares ``needs = Needs(...)``; :meth:`Needs.check` refuses, in one line each, programs or
data that cannot serve it. The messages name programs, sites and data, never a strategy, model or data
set by name; each :class:`~unigen.errors.UserError` also carries the command-line form of its fix
(config keys).

* ``roles`` — the roles the loss calls; an entry that is a tuple means "one of these" (InfoGAN's
  ``code_posterior`` may stand in for the guide).
* ``labels`` — ``"none"``; ``"given"``: every example is labelled and the model reads the label (a
  conditional model, checked by generating under two labels); ``"partial"``: labels with ``-1`` for
  hidden ones are read as such (semi-supervised).
* ``density`` — the loss scores :math:`\log p_\theta(x \mid z)`, so the model's observed site needs a
  density (not a ``Delta``).
* ``capturable`` — the step can be captured in one CUDA graph (``True``), or a reason why not.
* ``domains`` — the data mark two domains (``TensorData(..., domain=...)``), read through
  :func:`~unigen.programs.split_domains` (domain adaptation, CycleGAN).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch

from unigen.errors import UserError
from unigen.programs import Batch, Programs
from unigen.scoring import check_guide, generate, has_density, takes_label

Role = Union[str, tuple[str, ...]]
LABELS = ("none", "given", "partial")


@dataclass(frozen=True)
class Needs:
    roles: tuple[Role, ...] = ("model",)
    labels: str = "none"
    density: bool = False
    capturable: Union[bool, str] = True
    domains: bool = False

    def __post_init__(self) -> None:
        if self.labels not in LABELS:
            raise ValueError(f"Needs.labels={self.labels!r}; choose one of {LABELS}")

    @property
    def role_names(self) -> tuple[str, ...]:
        """Every role named, alternatives flattened (in order)."""
        return tuple(r for entry in self.roles for r in ((entry,) if isinstance(entry, str) else entry))

    def missing(self, programs: Programs) -> list[str]:
        return [entry if isinstance(entry, str) else " or ".join(entry) for entry in self.roles
                if not any(programs.has(r) for r in ((entry,) if isinstance(entry, str) else entry))]

    def check(self, programs: Programs, data=None, probe: Batch | None = None) -> None:
        """Refuse programs, or data (a :class:`~unigen.data.base.TensorData`), that cannot serve these needs.

        ``probe`` (a small labelled-as-the-data batch on the training device, after
        :meth:`Programs.bind`) enables the checks that run the programs: the guide against the model, the
        density at x, and that a conditional model reads its labels.
        """
        missing = self.missing(programs)
        if missing:
            raise UserError(f"the programs lack the role(s) {', '.join(missing)} (they have "
                            f"{', '.join(programs.roles)}); pass them to Programs(...)",
                            cli=f"the model provides the roles {', '.join(programs.roles)} but the strategy needs "
                                f"{', '.join(missing)}; pick a model (model.name) that has them")
        if data is not None:
            self._check_labels(data)
            if self.domains and getattr(data, "domain", None) is None:
                raise UserError("the loss reads two domains but the data mark none; pass TensorData(x, c, info, "
                                "domain=d) with d[i] in {0, 1}",
                                cli="the strategy needs two-domain data (a source and a target, or two unpaired "
                                    "image sets) but the data set has one domain; pick a two-domain data set")
        if probe is None:
            return
        if self.labels == "given":
            require_labels_used(programs, probe)
            if "discriminator" in self.role_names and not takes_label(programs.discriminator):
                raise UserError("the loss gives the discriminator the labels c, but it does not take them "
                                "(it would be called with x alone); write its forward as forward(x, c=None) "
                                "and use c", cli="the strategy gives the discriminator the labels c, but it "
                                "does not take them; use a conditional model, e.g. model.conditional=true")
        if "guide" in self.role_names and programs.has("guide"):
            check_guide(programs, probe)
        if self.density and not has_density(programs, None if probe.c is None else probe.c.clamp(min=0)):
            raise UserError("the loss scores log p(x|z) but the model's observed site is a Delta (an implicit "
                            "generator); give it a likelihood, e.g. dist.Normal(loc, sigma).to_event(1)",
                            cli="the strategy scores log p(x|z) but the model's x is a Delta (an implicit "
                                "generator); use a model with a likelihood (mlp: model.likelihood=normal; mlp_vae) "
                                "or a GAN strategy (e.g. strategy.name=ns_gan)")

    def _check_labels(self, data) -> None:
        if self.labels != "none" and data.c is None:
            raise UserError("the loss reads class labels c but the data have none; pass TensorData(x, c, info) "
                            "with labels", cli="the strategy needs labelled data but the data set has no labels; "
                                               "use a labelled data set such as mnist")
        if data.c is not None and self.labels != "partial" and bool((data.c < 0).any()):
            raise UserError("the data have unlabelled examples (label -1), which this loss would read as classes; "
                            "use a semi-supervised strategy (SVAE, or AAVAE(base='svae')) or label every example",
                            cli="the data set has unlabelled examples (label -1) but the strategy would read them "
                                "as labels; use svae (or aavae with base=svae), or data.label_fraction=1")


def require_labels_used(programs: Programs, probe: Batch | None = None) -> None:
    """Refuse a model whose samples ignore the labels ``c``, with a one-line fix.

    A set-up check, not part of a step: it generates two examples under the labels 0 and then 1 from the
    same random state, in eval mode and without gradients, and compares them; the random state and every
    module's train/eval mode are restored afterwards. A model that draws exactly the same ``x`` under both
    labels ignores them. (A conditional model whose label weights start at exactly zero would be refused
    too; initialise them randomly.)
    """
    if not takes_label(programs.model):  # it would be called without them (unigen.scoring.takes_label)
        raise UserError("the loss passes labels c to the model, but it does not take them; write "
                        "model(x, c=None) and use c", cli="the strategy passes labels c to the model, but it "
                        "does not take them; use a conditional model, e.g. model.conditional=true")
    devices = sorted({p.device.index or 0 for p in programs.parameters() if p.device.type == "cuda"})
    device = next(iter(programs.parameters()), torch.empty(0)).device if probe is None else probe.x.device
    like = None if probe is None else probe.x[:1]
    modes = [(m, m.training) for m in programs.modules()]
    programs.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            draws = []
            for label in (0, 1):
                torch.manual_seed(0)
                c = torch.full((2,), label, dtype=torch.long, device=device)
                draws.append(generate(programs, 2, c, like=like)[0])
    finally:
        for module, training in modes:
            module.training = training
    if torch.equal(draws[0], draws[1]):
        raise UserError("the loss needs a model whose samples depend on the labels c, but this model ignores them; "
                        "make model(x, c) use c", cli="the strategy needs a model whose samples depend on the "
                        "labels c, but this model ignores them; set model.conditional=true")
