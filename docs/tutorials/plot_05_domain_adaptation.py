r"""
Adversarial domain adaptation on digits
=======================================

Hu et al. (2018, §3.1) read adversarial domain adaptation (DANN; Ganin et al., 2016) as one more instance
of their graphical model: an example of either domain is the "code", its feature vector is the
"generated sample" (so the feature extractor is the generator), and a *domain* discriminator plays the
critic, telling source features from target ones. A label classifier on the source features completes the
model. Trained against the domain discriminator, the features of the two domains become hard to tell apart,
and a classifier trained on labelled source features then also works on the unlabelled target.

Here the source is MNIST (labelled) and the target is scikit-learn's 8×8 handwritten digits, upsampled
(their labels hidden during training, used only to score): unigen's ``mnist_to_digits`` data set. We train
the same networks twice, once on the source labels alone and once with the adversarial feature loss, and
compare their accuracy on held-out target digits and their features.
"""

# %%
# Set-up
# ------
import os

import matplotlib.pyplot as plt
import pyro
import torch

from unigen import Trainer
from unigen.config import OptimConfig
from unigen.data.digit_shift import MNISTToDigits
from unigen.inference import DANN
from unigen.models.dann import DANNNets
from unigen.roles import needed_roles

QUICK = os.environ.get("UNIGEN_DOCS_QUICK") == "1"
STEPS = 20 if QUICK else 800  # batches of 32 source + 32 target digits
EVAL_EVERY = 10 if QUICK else 50

# %%
# The two domains
# ---------------
# MNIST's digits are about 20 px of ink centred in a 28 px frame. ``target_size`` sets the side of the
# upsampled 8×8 digits inside that frame: at the default 28 they fill it, a shift of size and stroke that
# this short training does not bridge (the ``ada-digits`` reproduction reports that negative result); at 20
# they sit where MNIST's ink sits and differ in style (blocky, blurred strokes from other writers and
# another scanner). We take 20. The training split holds both domains, marked by ``domain`` (0 source,
# 1 target), with the target's labels hidden as ``-1``; every batch draws as many digits of each.
spec = MNISTToDigits(target_size=20)
data = spec.load("train")
target_test, source_test = spec.load("test"), spec.source_test()
print(f"training: {int((data.domain == 0).sum())} source digits (labelled), "
      f"{int((data.domain == 1).sum())} target digits (labels hidden: {set(data.c[data.domain == 1].tolist())})")
print(f"held out: {len(source_test)} source and {len(target_test)} target digits, labelled")

fig, axes = plt.subplots(2, 10, figsize=(9, 2.2), layout="constrained")
for row, (name, d) in enumerate((("source: MNIST", source_test), ("target: sklearn 8×8, 20 px", target_test))):
    for k in range(10):
        ax = axes[row, k]
        ax.imshow(d.x[(d.c == k).nonzero()[0, 0], 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name.split(":")[0], fontsize=8)
fig.suptitle("one held-out digit of each class from each domain", fontsize=9)

# %%
# The programs and the strategy
# -----------------------------
# ``model.name=dann`` (``DANNNets``) is Ganin et al.'s MNIST network, reduced: two 5×5 convolutions with
# max-pooling make the features; the model is a Pyro program :math:`p_\theta(c \mid x)` that records them at a
# site ``"feature"``; the ``domain_discriminator`` is an MLP on them. ``DANN(form=...)`` chooses the feature
# loss: ``"flipped"``, Hu et al.'s non-saturating form (the domain labels swapped, as a GAN's generator
# does), ``"reversal"``, Ganin et al.'s gradient reversal, or ``"none"``, the source-only baseline on the
# same networks (its domain discriminator still trains, as a probe). The feature loss's weight rises from 0
# to 1 over ``schedule_steps`` (Ganin et al.'s schedule).


def accuracy(programs, d):
    with torch.no_grad():
        return float((programs.model.logits(d.x).argmax(-1) == d.c).float().mean())


def train(form, seed=0):
    pyro.set_rng_seed(seed)
    strategy = DANN(form=form, schedule_steps=STEPS)
    programs = DANNNets(conv1=16, conv2=32).build(data.info, roles=needed_roles(strategy))
    trainer = Trainer(programs, strategy, data, batch_size=64, optim=OptimConfig(lr=1e-3), seed=seed)
    curve = []
    while trainer.step_count < STEPS:
        trainer.fit(trainer.step_count + EVAL_EVERY, log_every=EVAL_EVERY, progress=False)
        programs.eval()
        curve.append((trainer.step_count, accuracy(programs, target_test), trainer.history[-1]["domain_acc"]))
    return programs, curve


runs = {"source only": train("none"), "DANN (flipped labels)": train("flipped")}

# %%
# Accuracy on the target
# ----------------------
# Left: accuracy on the 500 held-out target digits during training. Right: how well the domain
# discriminator tells the two domains' features apart, on its training batches (0.5: not at all). The
# source-only features stay fully separable; the adversarial loss makes them hard to tell apart, and the
# classifier trained on source labels carries over better.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
for name, (_, curve) in runs.items():
    steps = [s for s, _, _ in curve]
    axes[0].plot(steps, [a for _, a, _ in curve], "o-", ms=3, label=name)
    axes[1].plot(steps, [d for _, _, d in curve], "o-", ms=3, label=name)
axes[0].axhline(0.1, color="k", ls=":", lw=1, label="chance")
axes[0].set(xlabel="step", ylabel="target accuracy (held out)", ylim=(0, 1))
axes[1].axhline(0.5, color="k", ls=":", lw=1, label="indistinguishable")
axes[1].set(xlabel="step", ylabel="domain discriminator accuracy", ylim=(0.4, 1.02))
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)

last = max(1, len(next(iter(runs.values()))[1]) // 4)  # the last quarter of the evaluations
summary = {}
for name, (programs, curve) in runs.items():
    summary[name] = {"target": sum(a for _, a, _ in curve[-last:]) / last, "source": accuracy(programs, source_test),
                     "domain": sum(d for _, _, d in curve[-last:]) / last}
print(f"{'':<24}{'target acc.':>12}{'source acc.':>12}{'domain acc.':>12}   (target, domain: mean of the last {last})")
for name, s in summary.items():
    print(f"{name:<24}{s['target']:>12.3f}{s['source']:>12.3f}{s['domain']:>12.3f}")

# %%
# The features
# ------------
# 300 held-out digits of each domain, their features projected on the first two principal components of
# the pair. Without adaptation the target digits (orange) crowd into a region of their own, apart from most
# of the source's; with it they spread over the same region as the source's.
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
for ax, (name, (programs, _)) in zip(axes, runs.items()):
    with torch.no_grad():
        feats = [programs.model.features(d.x[:300]) for d in (source_test, target_test)]
    both = torch.cat(feats)
    centred = both - both.mean(0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    p = centred @ v[:, :2]
    ax.scatter(p[:300, 0], p[:300, 1], s=4, alpha=0.5, label="source (MNIST)", rasterized=True)
    ax.scatter(p[300:, 0], p[300:, 1], s=4, alpha=0.5, label="target (sklearn digits)", rasterized=True)
    ax.set(title=name, xticks=[], yticks=[], xlabel="PC 1", ylabel="PC 2")
    ax.legend(fontsize=8, markerscale=3)

# %%
# One seed and a short training, so the curves are noisy; read the gap between them, not the decimals. In
# four seeds of this setting that we tried, both DANN forms ended ahead of source only on the target. The
# ``ada-digits`` reproduction (``unigen reproduce ada-digits``) trains longer, with Ganin et al.'s SGD schedule,
# over five seeds: there gradient reversal ends ahead of source only in 4 of 5 seeds by a small margin and the
# flipped form behind it in 5 of 5 (its page gives the numbers and a reason); it also keeps the 28 px pair, where
# adaptation did not help. ``unigen train dann_digits`` trains the reproduction's main setting from the command
# line.
plt.show()
