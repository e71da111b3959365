r"""
Writing a new strategy in one file
==================================

A strategy in unigen is a frozen dataclass: its fields are its settings, and three class attributes and
one method say everything else. It holds no networks, no optimisers and no data, so it is short. This
tutorial writes one that unigen does not have, the relativistic GAN of Jolicoeur-Martineau (2019),
registers it under a name, trains it from Python and through a run directory, and compares it with the
built-in non-saturating GAN on the ring of 8 Gaussians.

The relativistic critic does not ask "is :math:`x` real?" but "is the real :math:`x_r` more real than
the generated :math:`x_f`?": with the critic's logit :math:`d`,

.. math::
    \ell_D = \mathbb{E}\,\operatorname{softplus}\big(-(d(x_r) - d(x_f))\big), \qquad
    \ell_G = \mathbb{E}\,\operatorname{softplus}\big(-(d(x_f) - d(x_r))\big),

over pairs of a real and a generated example. Unlike the non-saturating GAN's, the generator's loss reads
the critic on *real* data too, so it cannot be written as a function of :math:`d(x_f)` alone (the hook
that ``unigen.inference.Adversarial``'s subclasses fill in); we write it on ``unigen.Strategy`` directly.
"""

# %%
# Set-up
# ------
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pyro
import torch
import torch.nn.functional as F

import unigen
from unigen import Phase, Strategy, Trainer, generate
from unigen.config import OptimConfig
from unigen.data import Ring
from unigen.inference import NonSaturatingGAN
from unigen.metrics.modes import mode_stats
from unigen.models.mlp import MLP
from unigen.needs import Needs
from unigen.registry import STRATEGIES
from unigen.roles import needed_roles
from unigen.scoring import discriminate
from unigen.settings import count

QUICK = os.environ.get("UNIGEN_DOCS_QUICK") == "1"
STEPS = 20 if QUICK else 1500
EVAL_EVERY = 10 if QUICK else 150

# %%
# The strategy
# ------------
# What a strategy declares, as every file in ``inference/`` does:
#
# * ``needs``: the roles its losses call (``unigen.needs.Needs``; also labels, a density at x, two domains),
#   checked in one line before training;
# * ``players``: the roles whose parameters each optimiser steps;
# * ``phases()``: the updates of one training step, in order. A ``Phase`` names its players, a loss function
#   ``(programs, batch) -> {player: loss, diagnostic: value}`` and how many times it repeats, each time on a
#   fresh batch;
# * ``meanings``: what each logged name means, beyond the players and the shared names (``d_real`` and
#   ``d_fake`` are the critic's mean logits in every GAN).
#
# The helpers are those the built-in strategies use: ``unigen.generate`` draws from the model with its
# observed site unobserved (differentiably, for the generator), ``discriminate`` calls the critic with the
# labels when it takes them. The docstring's first line is what ``unigen list`` prints.
# ``@STRATEGIES.register("rsgan")`` adds the class to the table that configs and the command line read.


@STRATEGIES.register("rsgan")
@dataclass(frozen=True)
class RelativisticGAN(Strategy):
    """Relativistic GAN: the critic asks if real data look more real than generated data (Jolicoeur-Martineau, 2019).

    :param n_critic: critic updates per generator update, each on a fresh batch.
    """

    n_critic: int = count(1, hi=1000)  # a setting with its range: checked in configs and in Python

    needs = Needs(("model", "discriminator"))
    players = {"discriminator": ("discriminator",), "generator": ("model",)}
    meanings = {"discriminator": "RSGAN critic loss E softplus(d(x_f) − d(x_r))",
                "generator": "RSGAN generator loss E softplus(d(x_r) − d(x_f))"}

    def phases(self):
        return (Phase(("discriminator",), self.critic_step, self.n_critic),
                Phase(("generator",), self.generator_step))

    def logits(self, programs, batch, generator_grad):
        """The critic's logits on the batch and on as many generated samples, each ``(batch,)``."""
        with torch.set_grad_enabled(generator_grad):  # the critic's phase treats samples as data
            x_fake, _ = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
        return discriminate(programs, batch.x, batch.c), discriminate(programs, x_fake, batch.c)

    def critic_step(self, programs, batch):
        d_real, d_fake = self.logits(programs, batch, generator_grad=False)
        return {"discriminator": F.softplus(d_fake - d_real).mean(), "d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def generator_step(self, programs, batch):
        d_real, d_fake = self.logits(programs, batch, generator_grad=True)
        return {"generator": F.softplus(d_real - d_fake).mean()}


print("rsgan:", STRATEGIES.describe()["rsgan"])
print("settings:", RelativisticGAN())

# %%
# A check with a known answer before any training: when the critic cannot tell real from generated
# (equal logits), both losses are :math:`\log 2`.
from unigen import Batch, DataInfo  # noqa: E402

ring = Ring()
data = ring.load("train")
pyro.set_rng_seed(0)
strategy = RelativisticGAN()
programs = MLP(z_dim=2).build(DataInfo(shape=(2,)), roles=needed_roles(strategy))
with torch.no_grad():
    for p in programs.discriminator.parameters():  # a critic that outputs 0 everywhere
        p.zero_()
    values = strategy.critic_step(programs, Batch(data.x[:256]))
print(f"critic loss with a constant critic: {float(values['discriminator']):.4f} (log 2 = {math.log(2):.4f})")

# %%
# Training it from Python, beside the non-saturating GAN
# ------------------------------------------------------
# The networks and the schedule of the ``ring_gan`` example config (the ``mlp`` spec with three hidden
# layers of 128; batches of 512; Adam at :math:`2\cdot10^{-3}` decaying linearly to 0), a quarter of its
# length, the same seed; only the strategy differs. Every ``EVAL_EVERY`` steps we score 2,500 samples with
# the mode-collapse protocol (``unigen.metrics.modes``).


def train(strategy, seed=0):
    pyro.set_rng_seed(seed)
    programs = MLP(z_dim=2, hidden=128, depth=3, disc_hidden=128).build(data.info, roles=needed_roles(strategy))
    trainer = Trainer(programs, strategy, data, batch_size=512, optim=OptimConfig(lr=2e-3, schedule="linear"),
                      seed=seed, total_steps=STEPS)
    curve = []
    while trainer.step_count < STEPS:
        trainer.fit(trainer.step_count + EVAL_EVERY, log_every=EVAL_EVERY, progress=False)
        with torch.no_grad():
            x, _ = generate(programs, 2500)
        curve.append((trainer.step_count, mode_stats(x, ring.centres(), ring.std)))
    return x, curve, trainer.history


results = {"NS-GAN (built in)": train(NonSaturatingGAN()), "RSGAN (this file)": train(RelativisticGAN())}

fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), layout="constrained")
for ax, (name, (x, curve, _)) in zip(axes[:2], results.items()):
    m = curve[-1][1]
    ax.scatter(x[:, 0], x[:, 1], s=1, c="k", alpha=0.3, rasterized=True)
    ax.scatter(*ring.centres().T, s=30, facecolors="none", edgecolors="tab:red", lw=0.8)
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal", xticks=[], yticks=[],
           title=f"{name}\n{m['modes']}/8 modes, {100 * m['high_quality']:.0f}% high quality")
for name, (_, curve, _) in results.items():
    axes[2].plot([s for s, _ in curve], [100 * m["high_quality"] for _, m in curve], "o-", ms=3, label=name)
axes[2].set(xlabel="step", ylabel="high-quality samples (%)", ylim=(-3, 103), title="over training")
axes[2].legend(fontsize=8)

# %%
# Both cover the ring at this length; one seed says little about which is better (the ``mode-collapse``
# reproduction compares strategies over seeds). The logged rows (``trainer.history``) show one difference
# between the two critics that holds whatever the seed. The relativistic
# losses read only differences :math:`d(x_r) - d(x_f)`, so nothing pins the critic's logits to any level:
# they drift together, while the non-saturating critic's stay around 0, where it cannot tell the two apart.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained", sharey=False)
for ax, (name, (_, _, history)) in zip(axes, results.items()):
    for key in ("d_real", "d_fake"):
        ax.plot([r["step"] for r in history], [r[key] for r in history], label=key)
    ax.set(xlabel="step", ylabel="mean critic logit", title=name)
    ax.legend(fontsize=8)

# %%
# Through the run machinery, by name
# ----------------------------------
# Registered, the strategy is a config name like any other: ``strategy.name=rsgan`` with its settings as
# ``strategy.n_critic=...`` (range-checked), and a run directory with checkpoints that resume, ``eval.json``,
# ``samples.png`` and ``losses.png`` (titled by ``meanings``). Here, the ``ring_gan`` example config with
# only the strategy and the length changed, into a temporary folder. The name exists wherever the file that
# registers it has been imported: here, in this process. For the command line, a three-line launcher that
# imports the file and calls ``unigen.cli.main()`` does that, and a run trained so needs the same import to
# be sampled, evaluated or resumed later (:doc:`/howto/extend`); a strategy that ships with unigen goes into
# ``inference/``, imported there by name.
import contextlib  # noqa: E402
import io  # noqa: E402

from unigen.experiments import config_path  # noqa: E402
from unigen.run import train as train_run  # noqa: E402

tmp = tempfile.TemporaryDirectory(prefix="unigen-tutorial-")  # removed at the end
workdir = tmp.name
printed = io.StringIO()
with contextlib.redirect_stdout(printed):  # a run prints a progress line every train.log_every steps
    run_dir = train_run(config_path("ring_gan"), ["strategy.name=rsgan", f"train.steps={STEPS}"],
                        out=str(Path(workdir) / "rsgan"))
print("the run's last lines:", *printed.getvalue().strip().splitlines()[-2:], sep="\n  ")
print("files:", sorted(p.name for p in run_dir.iterdir() if p.is_file() and not p.name.startswith(".")))
scores = json.loads((run_dir / "eval.json").read_text())
print(f"eval.json: modes {scores['modes']}/8, high quality {100 * scores['high_quality']:.1f}%, "
      f"KL over modes {scores['kl_modes']:.3f}")

run = unigen.load_run(run_dir)  # the run's programs and its resolved config
print("loaded back:", run.config.strategy)

fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
ax.imshow(plt.imread(run_dir / "samples.png"))
ax.set_title("the run's samples.png", fontsize=9)
ax.axis("off")

# %%
# What the file needed, and what it did not: no change to the models, the trainer or the run code; the
# strategy's players, phases and losses were enough. The same recipe, with a critic on new inputs
# (``unigen.roles.Critic``), is how ALI and AVB came in. A strategy for the library itself also gets
# a test of its losses by hand (``tests/inference/``), which the contract test over every registered
# strategy then joins.
tmp.cleanup()
plt.show()
