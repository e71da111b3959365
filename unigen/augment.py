r"""Differentiable augmentation of every critic's data input (DiffAugment) and ADA's adaptive probability.

**DiffAugment** (Zhao, Liu, Lin, Zhu & Han, *Differentiable Augmentation for Data-Efficient GAN Training*,
NeurIPS 2020). A critic trained on few images memorises them; augmenting only the real images would teach the
generator the augmented distribution. DiffAugment applies one family of random, differentiable transforms
:math:`T` to *both* the real and the generated inputs of the critic, in both players' updates:

.. math::

    \ell_D = \mathbb{E}_x\, f_D\big(D(T(x))\big) + \mathbb{E}_z\, g_D\big(D(T(G(z)))\big), \qquad
    \ell_G = \mathbb{E}_z\, g_G\big(D(T(G(z)))\big),

so the critic only ever sees augmented images, the generator's gradient flows through :math:`T`
(:math:`\partial T(x)/\partial x` exists for every op), and the generator still matches the un-augmented data
(the ops are invertible in distribution, or at least do not leak: Zhao et al., §3). Each call draws a fresh
transform per example, so the real and the generated batches get independent draws of the same distribution.
The ops, as in the authors' reference (``mit-han-lab/data-efficient-gans``, ``DiffAugment_pytorch.py``), with
:math:`u \sim U[0, 1)` per example:

- ``color``: brightness :math:`x + (u_1 - \tfrac12)\,s` (the reference's ±0.5), saturation
  :math:`(x - \bar x_c)\,2u_2 + \bar x_c` (:math:`\bar x_c` the mean over channels; the identity on one channel),
  contrast :math:`(x - \bar x)(u_3 + \tfrac12) + \bar x` (:math:`\bar x` the image's mean);
- ``translation``: a shift by a whole number of pixels, uniform in :math:`[-\lfloor H/8 \rceil, \lfloor H/8
  \rceil]` and the same for the width, the vacated pixels filled;
- ``cutout``: a square of half the image's height and width, centred at a uniform pixel (clipped at the
  borders), filled.

**The data's support.** The reference works on images in :math:`[-1, 1]` (its fill is 0, the middle grey; its
brightness shift ±0.5 is a quarter of the range). Here each support has a centre :math:`m` and a half-range
:math:`s` (:data:`FRAMES`): ``symmetric`` :math:`[-1, 1]` (and ``real``) :math:`m = 0, s = 1`, the reference
bit for bit; ``unit`` :math:`[0, 1]` :math:`m = \tfrac12, s = \tfrac12`: brightness ±0.25 and the fill 0.5, the
same transform as the reference's on the image rescaled to :math:`[-1, 1]` (saturation and contrast commute
with the rescaling). Nothing is clamped (the reference does not clamp; a clamp would cut the gradient):
brightness and contrast may leave the support, the same way for real and generated images.

**ADA** (Karras, Aittala, Hellsten, Laine, Lehtinen & Aila, *Training Generative Adversarial Networks with
Limited Data*, NeurIPS 2020). Each op of the policy is applied to each example with probability :math:`p`
(else the example passes through it unchanged), and :math:`p` is tuned by an overfitting heuristic on the
critic's raw outputs on real images,

.. math::

    r_t = \mathbb{E}\,[\operatorname{sign} D(x_{real})], \qquad
    p \leftarrow \operatorname{clip}\Big(p + \operatorname{sign}(r_t - \text{target})\,
    \frac{N}{\text{ada\_speed}},\ 0,\ 1\Big),

with :math:`N` the real images the critic saw since the last adjustment (``train.batch_size`` × its updates per
step × the steps), the target 0.6 of the paper and ``train.ada_speed`` = 500,000 (their 500k images for
:math:`p` to go from 0 to 1). :math:`p` starts at 0. Departure: Karras et al. adjust every 4 minibatches; here
the host adjusts at every log step (``train.log_every`` steps, :math:`r_t` averaged over them), so training
never syncs with the host in between and a traced or captured step reads :math:`p` as graph state. Without ADA
(``train.ada_target=0``) :math:`p = 1` and no gate is drawn (the reference's draws exactly).

Where it lives: :func:`augment_critics` wraps every critic role that reads x (the ``discriminator``, CycleGAN's
``critic_a``/``critic_b``, a strategy's :class:`~unigen.roles.Critic` request on ``"x"``, its x input only) in
an :class:`Augmented` module, called by :func:`unigen.assemble.build` and :func:`unigen.loading.load_export`,
so training, checkpoints, exports and reloads have one module tree. :math:`p` is the wrapper's buffer ``p``
(in the checkpoint: a resumed run continues bit for bit). Latent and feature critics (``latent_discriminator``,
``domain_discriminator``) and AVB's critic :math:`T(x, z)` (whose two kinds of pairs share the same real x, so
there is no generated x to augment) are left alone. With ``train.augment=""`` nothing is wrapped: the module
tree, the state-dict keys and the random streams are those of a run without this module. Augmentation runs in
training mode only (sampling, evaluation and the trainer's checks see the bare critic).

Everything drawn inside a step is capture-safe: torch's generator on the data's device, no host syncs, no
data-dependent Python branches (the policy and the gating are fixed at build time).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unigen.errors import UserError

#: per data support, the centre m (the fill) and the half-range s (brightness' scale) of the ops
FRAMES: dict[str, tuple[float, float]] = {"symmetric": (0.0, 1.0), "real": (0.0, 1.0), "unit": (0.5, 0.5)}

#: the critic roles of the model specs that read x (a strategy's Critic requests on "x" are added)
X_CRITICS = ("discriminator", "critic_a", "critic_b")

#: Critic requests that read x but compare pairs with the same real x (AVB's T(x, z)): not augmented
SAME_X_CRITICS = ("avb_critic",)


# ----------------------------------------------------------------------------------------------- the ops
def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    r"""One :math:`u \sim U[0, 1)` per example, shaped ``(batch, 1, 1, 1)``."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device, generator=generator)


def color(x: Tensor, centre: float = 0.0, scale: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    r"""Random brightness (:math:`\pm s/2`), saturation (:math:`\times[0, 2)`) and contrast (:math:`\times[0.5,
    1.5)`) per example, in that order (the reference's ``rand_brightness``, ``rand_saturation``,
    ``rand_contrast``)."""
    x = x + (_uniform(x, generator) - 0.5) * scale
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(x: Tensor, centre: float = 0.0, scale: float = 1.0, generator: torch.Generator | None = None,
                ratio: float = 0.125) -> Tensor:
    """A shift per example by whole pixels, up to ``ratio`` (1/8) of the height and of the width each way, the
    vacated pixels set to ``centre`` (the reference's ``rand_translation``, its zero padding at the centre)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device, generator=generator)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device, generator=generator)
    rows = torch.clamp(torch.arange(h, device=x.device).view(1, h, 1) + ty + 1, 0, h + 1)  # (b, h, 1)
    cols = torch.clamp(torch.arange(w, device=x.device).view(1, 1, w) + tx + 1, 0, w + 1)  # (b, 1, w)
    index = torch.arange(b, device=x.device).view(b, 1, 1)
    padded = F.pad(x, [1, 1, 1, 1], value=centre).permute(0, 2, 3, 1)  # (b, h + 2, w + 2, c)
    return padded[index, rows, cols].permute(0, 3, 1, 2).contiguous()  # out[i, j] = x[i + ty, j + tx]


def cutout(x: Tensor, centre: float = 0.0, scale: float = 1.0, generator: torch.Generator | None = None,
           ratio: float = 0.5) -> Tensor:
    """A rectangle of ``ratio`` (half) of the height and the width per example, set to ``centre``, centred at a
    uniform position and clipped at the borders (the reference's ``rand_cutout``; its mask is this one)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=generator) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=generator) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # (b, h, w)
    return x.masked_fill(inside.unsqueeze(1), centre)


#: the DiffAugment ops by policy name
OPS: dict[str, Callable[..., Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...], p: Tensor | None = None, centre: float = 0.0,
                 scale: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """``x`` ``(batch, C, H, W)`` through the ops of ``policy`` in order, differentiable in ``x``.

    ``p`` (a 0-dim tensor on x's device, or ``None`` for 1): each op is applied to each example with probability
    ``p`` (a gate :math:`u < p` drawn after the op's own draws), else the example passes through it unchanged;
    ``p = 0`` returns ``x``'s values bit for bit."""
    for name in policy:
        out = OPS[name](x, centre, scale, generator)
        if p is not None:
            gate = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator) < p
            out = torch.where(gate, out, x)
        x = out
    return x


def parse_policy(text: str, key: str = "train.augment") -> tuple[str, ...]:
    """``"color,translation,cutout"`` → ``("color", "translation", "cutout")``; ``""`` → ``()``. An unknown or
    empty item is refused in one line."""
    if not text:
        return ()
    items = tuple(t.strip() for t in text.split(","))
    for item in items:
        if item not in OPS:
            what = "an empty item" if not item else f"unknown op {item!r}"
            raise UserError(f"{key}={text!r} has {what}; give a comma-separated list of {', '.join(OPS)} "
                            f"(DiffAugment, e.g. {key}=color,translation,cutout), or {key}='' for none")
    return items


# ------------------------------------------------------------------------------------------- the wrapper
class Augmented(nn.Module):
    """A critic role whose x input goes through :func:`diff_augment` before the critic reads it (training mode
    only); its other inputs and the label pass through. ``p`` is a buffer (checkpointed); ``adaptive``: ADA
    tunes it (:func:`adapt`), else it stays 1 and no gate is drawn.

    ``__wrapped__`` names the critic, so :func:`unigen.scoring.label_mode` (and :func:`inspect.signature`) read
    the critic's own signature: the label is passed to the wrapper as the critic takes it."""

    def __init__(self, critic: nn.Module, policy: tuple[str, ...], support: str = "symmetric", x_at: int = 0,
                 adaptive: bool = False):
        super().__init__()
        self.critic = critic
        self.policy, self.x_at, self.adaptive = tuple(policy), x_at, adaptive
        self.centre, self.scale = FRAMES[support]
        self.register_buffer("p", torch.tensor(0.0 if adaptive else 1.0))

    @property
    def __wrapped__(self) -> nn.Module:
        return self.critic

    def forward(self, *args, **kwargs):
        if self.training:
            i = self.x_at
            x = diff_augment(args[i], self.policy, self.p if self.adaptive else None, self.centre, self.scale)
            args = (*args[:i], x, *args[i + 1:])
        return self.critic(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)}, x_at={self.x_at}, adaptive={self.adaptive}"


def _x_critics(programs, strategy) -> dict[str, int]:
    """The critic roles of ``programs`` that read x, each with the position of x among its inputs."""
    found = {name: 0 for name in X_CRITICS if programs.has(name)}
    for request in getattr(strategy, "networks", ()):
        if "x" in request.on and request.name not in SAME_X_CRITICS and programs.has(request.name):
            found[request.name] = request.on.index("x")
    return found


def reports_ada(step: Callable) -> Callable:
    """Mark a critic step that adds ADA's statistic (:func:`ada_statistic`) to what it returns
    (``Adversarial.discriminator_step`` and ``simultaneous_step``): ADA can tune ``p`` only for a strategy that runs such a step."""
    step.reports_ada = True
    return step


def _ada_phase(strategy):
    """The phase whose update reports ADA's statistic (a step marked with :func:`reports_ada`), or ``None``."""
    for phase in strategy.phases():
        if getattr(getattr(phase.loss, "__func__", phase.loss), "reports_ada", False):
            return phase
    return None


def augment_critics(programs, strategy, train, info) -> dict[str, Augmented]:
    """Wrap every critic role of ``programs`` that reads x in :class:`Augmented` (in place), as ``train.augment``
    (a policy), ``train.ada_target`` and the data's ``info`` (shape, support) say; nothing when the policy is
    empty. Returns the wrappers by role. The one place that decides the module tree of an augmented run: called
    by :func:`unigen.assemble.build` and :func:`unigen.loading.load_export`.

    :raises UserError: (one line) an unknown or empty op, data that are not images ``(C, H, W)``, a strategy
        with no critic of x, ADA without a policy or with a strategy whose critic step does not report
        :math:`r_t`."""
    policy = parse_policy(train.augment)
    strategy_name = getattr(strategy, "registry_name", "") or type(strategy).__name__
    refused = getattr(strategy, "augment_refused", "")
    if policy and refused:
        raise UserError(f"train.augment with strategy {strategy_name!r}: {refused}; leave train.augment=''")
    if not policy:
        if train.ada_target > 0:
            raise UserError(f"train.ada_target={train.ada_target} tunes the probability of train.augment, which is "
                            f"off; set train.augment=color,translation,cutout, or leave train.ada_target=0")
        return {}
    if len(info.shape) != 3:
        raise UserError(f"train.augment={train.augment}: DiffAugment needs image data (C, H, W), but these data "
                        f"have shape {tuple(info.shape)}; leave train.augment='' for vector data")
    found = _x_critics(programs, strategy)
    if not found:
        raise UserError(f"train.augment={train.augment}: strategy {strategy_name!r} has no critic that reads x "
                        f"(DiffAugment augments a critic's real and generated images); leave train.augment=''")
    adaptive = train.ada_target > 0
    if adaptive and ("discriminator" not in found or _ada_phase(strategy) is None):
        raise UserError(f"train.ada_target={train.ada_target}: ADA's statistic E[sign D(x_real)] is read from "
                        f"the discriminator step of the GAN strategies, which strategy {strategy_name!r} does not "
                        f"take; leave train.ada_target=0 (plain DiffAugment)")
    wrappers = {}
    for name, x_at in found.items():
        critic = programs.roles[name]
        wrapper = Augmented(critic, policy, info.support, x_at, adaptive and name == "discriminator")
        wrapper.to(programs.anchor.device)
        programs.roles[name] = wrapper
        if name in programs.modules_by_role:
            programs.modules_by_role[name] = wrapper
        wrappers[name] = wrapper
    return wrappers


# ----------------------------------------------------------------------------------------------- ADA
def _unwrap_parallel(module):
    return getattr(module, "module", module) if isinstance(module, nn.parallel.DistributedDataParallel) else module


def ada_critic(programs) -> Augmented | None:
    """The discriminator's wrapper when ADA tunes its ``p`` (through a data-parallel wrapper), else ``None``."""
    critic = _unwrap_parallel(programs.roles.get("discriminator"))
    return critic if isinstance(critic, Augmented) and critic.adaptive else None


def ada_statistic(programs, d_real: Tensor) -> dict[str, Tensor]:
    r"""``{"ada_r": E[sign d(x_real)]}`` (ADA's :math:`r_t`, on the critic's raw outputs on its real batch) when
    ADA is on, else ``{}`` (so a run without it logs and computes what it did before)."""
    if ada_critic(programs) is None:
        return {}
    return {"ada_r": torch.sign(d_real.detach()).mean()}


def adapt(programs, strategy, train, step: int, values: dict) -> dict[str, float]:
    r"""ADA's controller, run by the host at a log step: ``{"ada_p": p}`` to log (``{}`` when ADA is off).

    At a step that is a multiple of ``train.log_every``, with :math:`r_t` = ``values["ada_r"]`` (its mean over
    the log window; averaged over the processes of a data-parallel run, so every rank moves ``p`` alike),
    :math:`p \leftarrow \operatorname{clip}(p + \operatorname{sign}(r_t - \text{target})\, N / \text{ada\_speed},
    0, 1)` with :math:`N` = ``log_every × batch_size ×`` the critic's updates per step, written into the
    buffer in place. The adjustment depends on the step and the logged values only, so a resumed run (``p``
    restored from its checkpoint) continues bit for bit. The logged ``ada_p`` is ``p`` after the adjustment."""
    critic = ada_critic(programs)
    if critic is None:
        return {}
    r = values.get("ada_r")
    if step % train.log_every == 0 and r is not None and math.isfinite(r):
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            t = torch.tensor([float(r)], dtype=torch.float64, device=critic.p.device)
            torch.distributed.all_reduce(t)
            r = float(t) / torch.distributed.get_world_size()
        phase = _ada_phase(strategy)
        images = train.log_every * train.batch_size * (phase.repeats if phase is not None else 1)
        sign = (r > train.ada_target) - (r < train.ada_target)
        p = float(critic.p) + sign * images / train.ada_speed
        critic.p.fill_(min(max(p, 0.0), 1.0))
    return {"ada_p": float(critic.p)}


def ada_controller(programs, strategy, train) -> Callable[[int, dict], dict] | None:
    """The trainer's log hook that runs :func:`adapt` at each log step (``Trainer(log_hook=...)``, as
    ``Built.trainer()`` passes it), or ``None`` when ADA is off: p moves in every training built from a config,
    ``unigen train`` and the reproductions alike."""
    if not train.ada_target:
        return None
    return lambda step, values: adapt(programs, strategy, train, step, values)
