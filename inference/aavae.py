r"""Adversary activated VAEs (Hu et al., 2018): generated samples, weighted by a discriminator, train a VAE."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.inference.adversarial import Adversarial
from unigen.inference.kl_weight import KLWeighted
from unigen.programs import Batch, Programs
from unigen.scoring import discriminate, generate
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.settings import bounded, choice, count
from unigen.needs import Needs


def vae_family() -> tuple[str, ...]:
    """The registered strategies that expose a per-example bound ``objective`` (what ``base`` needs)."""
    return tuple(n for n in STRATEGIES.names() if callable(getattr(STRATEGIES.get(n), "objective", None)))


@STRATEGIES.register("aavae")
@dataclass(frozen=True)
class AAVAE(KLWeighted, Strategy):
    r"""AA-VAE: a VAE-family bound on real and generated samples, each weighted by D(x) (Hu et al., 2018).

    Hu et al.'s VAE objective holds a degenerate discriminator :math:`q_*(y \mid x)` that is certain which
    samples are real. Their eq. 17 swaps it for a learned one, :math:`q_\phi(y \mid x)`, so that every sample
    :math:`x` reaches the generative branch with weight :math:`q^r_\phi(y{=}0 \mid x) = q_\phi(y{=}1 \mid x) = D(x)
    = \sigma(d(x))`. With :math:`\mathcal{L}(x)` the per-example bound of the ``base`` strategy, the VAE player
    (model and guide) maximises

    .. math::
        \mathbb{E}_{p_{data}}\big[\mathrm{sg}(D(x))\,\mathcal{L}(x)\big]
        + \lambda\,\mathbb{E}_{p_{\theta_0}}\big[\mathrm{sg}(D(x))\,\mathcal{L}(x)\big],

    the weights and the generated samples being constants (``sg``: the discriminator and the sampling
    model :math:`p_{\theta_0}` are frozen in the VAE update). As many samples are generated as the real
    batch holds (Hu's setup), through :func:`~unigen.scoring.generate` (a Bernoulli decoder gives its
    mean). With a perfect discriminator (:math:`D = 1` on data, 0 on samples) the plain base objective
    returns; real samples that look fake are down-weighted and realistic generated samples serve as extra
    training data. The discriminator phase comes first: binary cross-entropy on
    real versus generated samples, as in :class:`~unigen.inference.adversarial.Adversarial`.

    A base may also define ``auxiliary_loss(programs, batch) -> scalar`` for terms of its loss that are not
    a per-example bound (a semi-supervised VAE's classification term :math:`-\alpha\,\mathbb{E}\log q_\phi(c
    \mid x)` on labelled data); AA-VAE adds it, unweighted and on the real batch only, to the loss above.

    Departures from eq. 17, stated: the mixture :math:`\tfrac12(p_{data} + p_{\theta_0})` is written as
    two expectations without the common factor ½; the term :math:`\mathrm{KL}(q^r_\phi(y \mid x) \,\|\, p(y))`
    and the :math:`y{=}1` branch (:math:`p_{data}` itself) are dropped as they hold no parameter of the VAE;
    ``fake_weight`` (λ, 1 in eq. 17) scales the generated samples' term.

    :param base: a registered VAE-family strategy exposing ``objective(programs, batch) -> (batch,)``:
        ``elbo`` gives AA-VAE, ``iwae`` AA-IWAE (with ``num_particles`` > 1), ``svae`` AA-SVAE. Labels,
        when the data have them, reach the base and conditional programs through ``batch.c`` (AA-CVAE);
        generated samples carry the labels of the real batch. The strategy needs labels exactly when the base does.
    :param num_particles: passed to the base (its guide samples per example), overriding the base's own
        default: set e.g. ``num_particles=5`` with ``base=iwae``.
    :param fake_weight: λ, the weight of the generated samples' term.
    :param alpha: passed to a base that has it (``svae``: the weight of its classification term).
    :param beta: passed to the base with ``warmup`` and ``warmup_steps`` (β-VAE, KL annealing,
        :mod:`unigen.inference.kl_weight`): the KL part of the base's bound is weighted in training, on
        real and generated samples alike; the logged ``bound`` is the base's bound on the real batch.

    Players: ``discriminator``; ``vae`` (the roles of every player of the base: model and guide, plus
    e.g. the classifier of ``svae``).
    """

    base: str = choice("elbo", lambda: vae_family())
    #: why DiffAugment (train.augment) cannot wrap this strategy's critic
    augment_refused: ClassVar[str] = ("its discriminator's outputs weight the VAE's bound (D(x) on real and generated "
                                      "examples), which augmentation would distort")
    num_particles: int = count(1, hi=10_000)
    fake_weight: float = bounded(1.0, 0)
    alpha: float = 0.1
    bce_losses: ClassVar[tuple[str, ...]] = ("discriminator",)  # BCE: 2 ln 2 at D = 1/2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_particles < 1:
            raise UserError(f"num_particles must be >= 1, got {self.num_particles}")
        if not self.fake_weight >= 0:
            raise UserError(f"fake_weight must be >= 0 (0 leaves only the weighted real term), "
                            f"got {self.fake_weight}")
        cls = STRATEGIES.get(self.base)  # a VAE-family strategy (a declared choice, checked above)
        names = {f.name for f in fields(cls)}
        passed = {k: getattr(self, k) for k in ("num_particles", "beta", "warmup", "warmup_steps", "alpha")}
        defaults = {f.name: f.default for f in fields(self)}
        for key in ("num_particles", "beta", "warmup", "alpha"):  # warmup_steps matters only with a warmup
            if key not in names and passed[key] != defaults[key]:
                raise UserError(f"base={self.base!r} has no {key} setting; leave {key}={defaults[key]}")
        base = cls(**{k: v for k, v in passed.items() if k in names})
        object.__setattr__(self, "_base", base)  # derived from the settings, not a setting itself

    # ------------------------------------------------------------------------- derived from the base
    @property
    def base_strategy(self) -> Strategy:
        """The base strategy instance, built from ``base`` and ``num_particles``."""
        return self._base

    @property
    def needs(self) -> Needs:
        """The base's roles and labels (svae reads -1 as hidden), plus the discriminator; a density at x."""
        base = self._base.needs
        return Needs(tuple(dict.fromkeys(base.roles + ("discriminator",))), labels=base.labels, density=True,
                     capturable=base.capturable)

    @property
    def players(self) -> dict[str, tuple[str, ...]]:
        roles = dict.fromkeys(r for rs in self._base.players.values() for r in rs)
        return {"discriminator": ("discriminator",), "vae": tuple(roles)}

    @property
    def meanings(self) -> dict[str, str]:
        """The base's logged names and AA-VAE's own."""
        return {**self._base.meanings,
                "w_real": "AA-VAE: mean weight D(x) of real examples",
                "w_fake": "AA-VAE: mean weight D(x) of generated examples",
                "auxiliary": "auxiliary loss (classification term)",
                }

    # ------------------------------------------------------------------------------------ the phases
    def phases(self) -> tuple[Phase, ...]:
        critic = Adversarial()  # binary cross-entropy on real versus generated samples
        return (Phase(("discriminator",), critic.discriminator_step), Phase(("vae",), self.loss))

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        bound_real, objective_real = self._objectives(programs, batch)  # (batch,) each: bound, β-weighted
        with torch.no_grad():
            x_fake, _ = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
            w_real = torch.sigmoid(discriminate(programs, batch.x, batch.c))  # D(x) = q^r(y=0|x)
            w_fake = torch.sigmoid(discriminate(programs, x_fake, batch.c))
        _, objective_fake = self._objectives(programs, Batch(x_fake, batch.c, step=batch.step))  # (batch,)
        objective = (w_real * objective_real).mean() + self.fake_weight * (w_fake * objective_fake).mean()
        out = {"vae": -objective, "bound": bound_real.mean(), "w_real": w_real.mean(), "w_fake": w_fake.mean()}
        if self.weighted:
            out["kl_weight"] = self._base.logged_weight(batch, out["bound"])
        auxiliary = getattr(self._base, "auxiliary_loss", None)  # structural: fixed by the base's class
        if auxiliary is not None:
            out["auxiliary"] = auxiliary(programs, batch)
            out["vae"] = out["vae"] + out["auxiliary"]
        return out

    def _objectives(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        """The base's per-example bound and training objective (a base without ``objectives``: the bound twice)."""
        both = getattr(self._base, "objectives", None)
        if both is None:
            bound = self._base.objective(programs, batch)
            return bound, bound
        return both(programs, batch)
