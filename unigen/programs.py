r"""The roles of the unified view (Hu et al., 2018) and the trace helpers that strategies are built from.

A generative model in unigen is a set of *programs*, named by the role they play, never by the
algorithm that trains them:

* ``model`` — the generator :math:`p_\theta(x \mid z)\,p(z)`, a Pyro program
  ``model(batch_size, c=None)``. Its latent sites live inside ``pyro.plate("data", batch_size)`` and
  its observed site is named ``"x"`` with shape ``(batch, *event_shape)`` and a distribution whose
  ``log_prob`` has shape ``(batch,)`` (use ``.to_event``). A likelihood makes it a VAE decoder; a
  ``Delta`` makes it an implicit GAN generator. Strategies condition ``"x"`` with
  ``poutine.condition``; the program itself never sees data.
* ``guide`` — the inference network :math:`q_\phi(z \mid x)`, a Pyro program ``guide(x, c=None)``
  sampling the model's latent sites under the same plate.
* ``discriminator`` — the inference network :math:`q_\phi(y \mid x)` over the real/fake indicator
  ``y`` (1 real, 0 fake): a module ``discriminator(x, c=None)`` returning logits ``d(x)`` of shape
  ``(batch,)``. At its optimum :math:`d(x) = \log p_{data}(x) / p_\theta(x)`.

``c`` is an optional condition (class labels, shape ``(batch,)``). It is passed only when it is not
``None``, so unconditional programs may omit the parameter (a plain ``nn.Sequential`` discriminator).
Further roles (a latent discriminator, a code head) go in ``extra`` by name.

Everything here is capture-safe: no ``.item()``, no host-to-device copies, no data-dependent Python
branches, so a training step built from these helpers can run inside a CUDA graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch import Tensor, nn

OBS = "x"
ROLES = ("model", "guide", "discriminator")


class Batch(NamedTuple):
    """A minibatch: data ``x`` of shape ``(batch, *event_shape)`` and optional labels ``c`` ``(batch,)``."""

    x: Tensor
    c: Tensor | None = None


@dataclass(frozen=True)
class DataInfo:
    """What a model builder needs to know about the data."""

    shape: tuple[int, ...]  # event shape of one x, e.g. (2,) or (1, 28, 28)
    num_classes: int | None = None  # labels available for conditional programs
    support: str = "real"  # "real", "unit" ([0, 1]) or "symmetric" ([-1, 1])


class Programs(nn.Module):
    """The programs of one generative model, keyed by role. Holds no losses and no optimisers.

    It is an ``nn.Module`` so that ``.to(device)``, ``state_dict()`` and parameter discovery work over
    every role at once; functional programs that use ``pyro.param`` are supported through
    :func:`role_parameters`.
    """

    def __init__(self, model: Callable, guide: Callable | None = None,
                 discriminator: Callable | None = None, **extra: Callable):
        super().__init__()
        self.roles: dict[str, Callable] = {"model": model}
        if guide is not None:
            self.roles["guide"] = guide
        if discriminator is not None:
            self.roles["discriminator"] = discriminator
        self.roles.update(extra)
        # register module roles so that parameters, buffers and devices follow the container
        self.modules_by_role = nn.ModuleDict({k: v for k, v in self.roles.items() if isinstance(v, nn.Module)})

    def __getattr__(self, name: str):
        if name not in ("roles", "modules_by_role", "_modules", "_parameters", "_buffers"):
            roles = self.__dict__.get("roles", {})
            if name in roles:
                return roles[name]
        return super().__getattr__(name)

    def has(self, role: str) -> bool:
        return role in self.roles

    def forward(self, *args, **kwargs):  # pragma: no cover - programs are called by role
        raise TypeError("call a role (programs.model, programs.guide, ...) rather than the container")


def role_parameters(programs: Programs, role: str, batch: Batch) -> list[nn.Parameter]:
    """The trainable parameters of one role, found by tracing rather than by name lists.

    Module parameters come from the module; ``pyro.param`` sites (functional programs) are found by
    running the program once under ``poutine.trace(param_only=True)``.
    """
    program = programs.roles[role]
    params: dict[int, nn.Parameter] = {}
    if isinstance(program, nn.Module):
        params.update({id(p): p for p in program.parameters() if p.requires_grad})
    with torch.no_grad():
        if role == "model":
            tr = with_condition(poutine.trace(program, param_only=True).get_trace, batch.x.shape[0], c=batch.c)
        elif role == "guide":
            tr = with_condition(poutine.trace(program, param_only=True).get_trace, batch.x, c=batch.c)
        else:
            tr = None
    if tr is not None:
        for site in tr.nodes.values():
            p = site["value"].unconstrained()
            if p.requires_grad:
                params.setdefault(id(p), p)
    return list(params.values())


# ----------------------------------------------------------------------------------------- traces
def with_condition(fn: Callable, *args, c: Tensor | None = None):
    """Call a role with ``c`` appended only when there is a condition."""
    return fn(*args) if c is None else fn(*args, c)


def discriminate(programs: Programs, x: Tensor, c: Tensor | None = None) -> Tensor:
    """Logits ``d(x)`` of the discriminator, shape ``(batch,)``."""
    return with_condition(programs.discriminator, x, c=c)


def trace_model(model: Callable, batch_size: int, c: Tensor | None = None, x: Tensor | None = None,
                replay: poutine.Trace | None = None) -> poutine.Trace:
    """Run the model under ``trace``; ``x`` conditions the observed site, ``replay`` reuses latents."""
    fn = model
    if x is not None:
        fn = poutine.condition(fn, data={OBS: x})
    if replay is not None:
        fn = poutine.replay(fn, trace=replay)
    return with_condition(poutine.trace(fn).get_trace, batch_size, c=c)


def trace_guide(guide: Callable, x: Tensor, c: Tensor | None = None) -> poutine.Trace:
    return with_condition(poutine.trace(guide).get_trace, x, c=c)


def site_log_prob(site: dict, batch_size: int) -> Tensor:
    """Log-density of one sample site per example, shape ``(batch,)``.

    Sites outside the data plate (global latents) are spread evenly over the batch so that the sum
    over the batch is the joint log-density. Scale and mask from plates/handlers are applied.
    """
    lp = scale_and_mask(site["fn"].log_prob(site["value"]), site.get("scale", 1.0), site.get("mask"))
    if lp.dim() == 0:
        return lp.expand(batch_size) / batch_size
    return lp.reshape(batch_size, -1).sum(-1)


def log_prob_per_example(trace: poutine.Trace, batch_size: int, sites: set[str] | None = None,
                         exclude: set[str] = frozenset()) -> Tensor:
    """Sum of the log-densities of a trace's sample sites per example, shape ``(batch,)``.

    Plate subsample sites are pruned (their log-prob is not part of the model and breaks graph
    capture); ``sites`` restricts the sum, ``exclude`` removes names from it.
    """
    total = None
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site) or name in exclude:
            continue
        if sites is not None and name not in sites:
            continue
        lp = site_log_prob(site, batch_size)
        total = lp if total is None else total + lp
    if total is None:
        raise ValueError("the trace has no sample sites to score")
    return total


def latent_names(trace: poutine.Trace) -> set[str]:
    """Names of the unobserved, non-subsample sample sites of a trace."""
    return {n for n, s in trace.nodes.items()
            if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)}


def observed_value(trace: poutine.Trace) -> Tensor:
    r"""The generated ``x`` of a model trace, differentiable in :math:`\theta` where possible.

    A reparameterisable likelihood (``Delta``, ``Normal``) gives its sample; one that is not
    (``Bernoulli``) gives its mean, the usual choice when a VAE decoder is trained adversarially.
    """
    site = trace.nodes[OBS]
    return site["value"] if site["fn"].has_rsample else site["fn"].mean


def has_density(programs: Programs, c: Tensor | None = None) -> bool:
    """Whether the model scores data, i.e. its ``x`` site has a density (is not a ``Delta``)."""
    import pyro.distributions as dist

    with torch.no_grad():
        fn = trace_model(programs.model, 1, None if c is None else c[:1]).nodes[OBS]["fn"]
    while isinstance(fn, dist.Independent):
        fn = fn.base_dist
    return not isinstance(fn, dist.Delta)


def generate(programs: Programs, batch_size: int, c: Tensor | None = None) -> tuple[Tensor, poutine.Trace]:
    """Draw ``x ~ p_θ(x)`` (through :func:`observed_value`) and return it with its trace."""
    tr = trace_model(programs.model, batch_size, c)
    return observed_value(tr), tr


# ------------------------------------------------------------------------- discriminator q(y|x)
def log_q_real(logits: Tensor) -> Tensor:
    r""":math:`\log q_\phi(y{=}1 \mid x) = \log \sigma(d) = -\mathrm{softplus}(-d)`."""
    return -F.softplus(-logits)


def log_q_fake(logits: Tensor) -> Tensor:
    r""":math:`\log q_\phi(y{=}0 \mid x) = \log(1 - \sigma(d)) = -\mathrm{softplus}(d)`."""
    return -F.softplus(logits)
