r"""The roles of the unified view (Hu et al., 2018) (the containers a strategy reads).

The helpers that score and sample these programs are in :mod:`unigen.scoring`; the discovery of each
player's parameters in :mod:`unigen.players`.

A generative model in unigen is a set of *programs*, named by the role they play, never by the
algorithm that trains them. The two Pyro programs follow **Pyro's own convention**, exactly as a
Pyro user writes them for ``SVI``:

* ``model`` — the generator :math:`p_\theta(x \mid z)\,p(z)`, a Pyro program ``model(x, c=None)``. It
  sizes its plate from the data, ``with pyro.plate("data", x.shape[0])``, and observes them,
  ``pyro.sample("x", likelihood, obs=x)``; the site's ``log_prob`` has shape ``(batch,)`` (use
  ``.to_event``). The observed site is found from the trace (``is_observed``), so it may have any name;
  a model with several observed sites names the data's with ``Programs(..., obs=NAME)``. A likelihood
  makes it a VAE decoder; a ``Delta`` makes it an implicit GAN generator.
* ``guide`` — the inference network :math:`q_\phi(z \mid x)`, a Pyro program taking the same arguments,
  ``guide(x, c=None)``, and sampling the model's latent sites. Pyro's autoguides are guides too
  (global latents; see :func:`check_guide`).
* ``discriminator`` — the inference network :math:`q_\phi(y \mid x)` over the real/fake indicator
  ``y`` (1 real, 0 fake): a module ``discriminator(x, c=None)`` returning logits ``d(x)`` of shape
  ``(batch,)``. At its optimum :math:`d(x) = \log p_{data}(x) / p_\theta(x)`.

**Generation is posterior inference over x.** To draw :math:`x \sim p_\theta(x)` the model runs under
``poutine.uncondition``: its observed site is sampled from its own distribution. The ``x`` it is called
with then only sets the batch shape (a zero tensor of the bound event shape, :meth:`Programs.bind`), and
:func:`observed_value` reads the drawn value — the sample of a reparameterisable likelihood (``Delta``,
``Normal``), the mean of one that is not (``Bernoulli``), so that a discriminator can differentiate it.

``c`` is an optional condition (class labels, shape ``(batch,)``). It is passed only when it is not
``None``, so unconditional programs may omit the parameter (a plain ``nn.Sequential`` discriminator).
Further roles (a latent discriminator, a code head) go in ``extra`` by name.

Everything here is capture-safe: no ``.item()``, no host-to-device copies, no data-dependent Python
branches, so a training step built from these helpers can run inside a CUDA graph.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.scoring import find_observed

#: first-argument names of the retired convention ``model(batch_size, c=None)``
_SIZE_ARGS = ("batch_size", "n", "num", "num_samples", "size", "batch")


class Batch(NamedTuple):
    """A minibatch: data ``x`` of shape ``(batch, *event_shape)`` and optional labels ``c`` ``(batch,)``.

    ``domain`` ``(batch,)`` marks each example's domain (0 or 1) for two-domain data (domain adaptation,
    CycleGAN): such batches interleave the domains, even rows from domain 0 and odd rows from domain 1
    (:func:`split_domains`). ``step`` is the number of training steps completed before this one, a 0-dim
    float tensor on the device that the trainer advances in place (capture-safe), for losses with a
    schedule of their own (a KL warm-up); a batch made outside the trainer has ``step=None``, read as
    "training is over" (every warm-up complete).
    """

    x: Tensor
    c: Tensor | None = None
    domain: Tensor | None = None
    step: Tensor | None = None


def split_domains(batch: Batch) -> tuple[Batch, Batch]:
    """The two halves of an interleaved two-domain batch, ``(domain 0, domain 1)``: fixed shapes, capture-safe."""
    if batch.domain is None:
        raise ValueError("split_domains needs a two-domain batch (TensorData with `domain`)")

    def half(i: int) -> Batch:
        return Batch(batch.x[i::2], None if batch.c is None else batch.c[i::2], batch.domain[i::2], batch.step)

    return half(0), half(1)


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
                 discriminator: Callable | None = None, obs: str | None = None, **extra: Callable):
        super().__init__()
        _refuse_size_signature(model)
        self.roles: dict[str, Callable] = {"model": model}
        if guide is not None:
            self.roles["guide"] = guide
        if discriminator is not None:
            self.roles["discriminator"] = discriminator
        self.roles.update(extra)
        # register module roles so that parameters, buffers and devices follow the container
        self.modules_by_role = nn.ModuleDict({k: v for k, v in self.roles.items() if isinstance(v, nn.Module)})
        # the module of a role given as a bound method (Pyro's tutorial form: Programs(model=vae.model,
        # guide=vae.guide)), each once: its weights are in state_dict, checkpoints and exports, and follow .to()
        owners: dict[str, nn.Module] = {}
        for role, fn in self.roles.items():
            owner = getattr(fn, "__self__", None)
            if isinstance(owner, nn.Module) and not isinstance(fn, nn.Module) and not any(
                    owner is m for m in [*self.modules_by_role.values(), *owners.values()]):
                owners[role] = owner
        self.method_owners = nn.ModuleDict(owners)
        # a strategy's running statistics (LeCam's anchors): buffers, not roles (Strategy.attach adds them)
        self.strategy_state = nn.ModuleDict()
        self.obs = obs  # the observed site's name: given, or found by bind()
        self.event_shape: tuple[int, ...] | None = None
        # where placeholders are made: follows .to(device), not saved in checkpoints
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def bind(self, shape: tuple[int, ...], probe: "Batch | None" = None) -> "Programs":
        """Record the data's event shape (for generation) and, given a ``probe`` batch, find the model's
        observed site from a trace of ``model(probe.x, probe.c)`` (one-line errors if it has none, or
        several without ``obs``). Returns ``self``."""
        self.event_shape = tuple(shape)
        if probe is not None:
            self.obs = find_observed(self.model, probe, self.obs)
        elif self.obs is None:  # try an unlabelled probe of zeros; a conditional model waits for real data
            try:
                self.obs = find_observed(self.model, Batch(self.placeholder(2)))
            except UserError:
                pass
        return self

    def placeholder(self, n: int) -> Tensor:
        """A zero ``x`` of ``n`` examples: the batch shape of an unconditioned model run."""
        if self.event_shape is None:
            raise UserError("the programs do not know the data's shape yet; call programs.bind(data.info.shape) "
                            "(the Trainer and unigen's model specs do this)")
        return self.anchor.new_zeros((n, *self.event_shape))

    @property
    def obs_name(self) -> str:
        """The model's observed site (:meth:`bind` finds it; ``"x"`` until then)."""
        return self.obs or "x"

    def __getattr__(self, name: str):
        if name not in ("roles", "modules_by_role", "_modules", "_parameters", "_buffers", "obs", "event_shape",
                        "method_owners", "strategy_state"):
            roles = self.__dict__.get("roles", {})
            if name in roles:
                return roles[name]
        return super().__getattr__(name)

    def has(self, role: str) -> bool:
        return role in self.roles

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As :meth:`nn.Module.load_state_dict`, ignoring the weights of roles these programs do not have: a
        run written when every spec built every role (before roles were built on request) still loads."""
        prefix = "modules_by_role."
        state_dict = {k: v for k, v in state_dict.items()
                      if not k.startswith(prefix) or k[len(prefix):].split(".", 1)[0] in self.modules_by_role}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, *args, **kwargs):  # pragma: no cover - programs are called by role
        raise TypeError("call a role (programs.model, programs.guide, ...) rather than the container")

def _refuse_size_signature(model: Callable) -> None:
    """Refuse a model written in the retired convention ``model(batch_size, c=None)``, showing the rewrite."""
    fn = model.forward if isinstance(model, nn.Module) else model
    try:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):  # builtins, some callables: nothing to inspect
        return
    if params and params[0].name in _SIZE_ARGS:
        raise UserError(f"the model takes {params[0].name!r} first, but unigen calls it as Pyro's SVI does, "
                        f"model(x, c=None); rewrite `with pyro.plate('data', {params[0].name}): ... "
                        f"pyro.sample('x', d)` as `with pyro.plate('data', x.shape[0]): ... "
                        f"pyro.sample('x', d, obs=x)`")
