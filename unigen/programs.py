r"""The roles of the unified view (Hu et al., 2018) and the trace helpers that strategies are built from.

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

import functools
import inspect
import sys
import weakref
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.distributions import Bernoulli, Independent
from pyro.distributions.util import scale_and_mask
from pyro.infer.autoguide import AutoGuide
from pyro.poutine.messenger import _bound_partial, _context_wrap
from pyro.poutine.uncondition_messenger import UnconditionMessenger
from pyro.poutine.util import site_is_subsample
from torch import Tensor, nn
from torch.distributions.utils import _sum_rightmost, broadcast_all

from unigen.errors import UserError, first_line

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
        if name not in ("roles", "modules_by_role", "_modules", "_parameters", "_buffers", "obs", "event_shape"):
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


def role_parameters(programs: Programs, role: str, batch: Batch) -> list[nn.Parameter]:
    """The trainable parameters of one role, found by tracing rather than by name lists.

    The program runs once under ``poutine.trace(param_only=True)`` (which also creates the lazy
    parameters of an autoguide), then its module parameters and its ``pyro.param`` sites are collected.
    """
    program = programs.roles[role]
    params: dict[int, nn.Parameter] = {}
    tr = None
    if role in ("model", "guide"):  # both take the data, as in Pyro
        with torch.no_grad():
            tr = trace_program(program, batch.x, batch.c, param_only=True)
    if isinstance(program, nn.Module):
        params.update({id(p): p for p in program.parameters() if p.requires_grad})
    if tr is not None:
        for site in tr.nodes.values():
            p = site["value"].unconstrained()
            if p.requires_grad:
                params.setdefault(id(p), p)
    return list(params.values())


def player_parameters(programs: Programs, player: str, roles: tuple[str, ...], batch: Batch) -> list[nn.Parameter]:
    """A player's parameters: those of every role it owns (:func:`role_parameters`), without duplicates."""
    found: dict[int, nn.Parameter] = {}
    for role in roles:
        if programs.has(role):
            found.update({id(p): p for p in role_parameters(programs, role, batch)})
    if not found:
        raise UserError(f"player {player!r} owns no parameters (roles {', '.join(roles)}); give those programs "
                        f"trainable parameters (modules, pyro.param or pyro.module)")
    return list(found.values())


def _home(program) -> nn.Module | None:
    """The module a program's parameters live in: the program itself, or the module of a bound method."""
    if isinstance(program, nn.Module):
        return program
    owner = getattr(program, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def check_method_roles(programs: Programs, players: dict[str, tuple[str, ...]]) -> None:
    """Refuse a player's role other than the model and the guide given as a method of a module: such a role's
    parameters are its module's (it is not a Pyro program to trace), so a method's cannot be told from the rest."""
    for role in sorted({r for roles in players.values() for r in roles if programs.has(r)} - {"model", "guide"}):
        program = programs.roles[role]
        if not isinstance(program, nn.Module) and isinstance(_home(program), nn.Module):
            raise UserError(f"role {role!r} is a method of a module, so its weights cannot be told from the rest of "
                            f"the module's; pass a module whose forward does what the method does ({role}=MODULE)")


def check_all_trained(programs: Programs, params: dict[str, list[nn.Parameter]],
                      players: dict[str, tuple[str, ...]]) -> None:
    """Warn of weights that would never train.

    A player's parameters are found by tracing its Pyro programs (the model and the guide: :func:`role_parameters`)
    and, for every other role (a discriminator, a code posterior), as the parameters of the role's module (a method
    there is refused: :func:`check_method_roles`). Weights inside the module of a model or guide method that no
    player's trace reaches (``self.enc`` used without ``pyro.module``) are named in one line on stderr: they keep
    their initial values. It is a warning, not a refusal, because a strategy may leave part of a module unused on purpose (a GAN never calls the
    VAE's encoder); it is left out where a role no player uses is a plain function or a method of that same
    module, whose weights cannot be attributed.
    """
    used = {r for roles in players.values() for r in roles if programs.has(r)}
    homes = {id(h): h for r in used & {"model", "guide"} if (h := _home(programs.roles[r])) is not None}
    unused = [programs.roles[r] for r in programs.roles if r not in used]
    if any(not isinstance(p, nn.Module) and (_home(p) is None or id(_home(p)) in homes) for p in unused):
        return
    owned = {id(p) for ps in params.values() for p in ps}
    elsewhere = {id(p) for prog in unused if id(_home(prog)) not in homes for p in _home(prog).parameters()}
    names = {id(p): n for n, p in programs.named_parameters()}
    stray = list(dict.fromkeys(names.get(id(p), n) for h in homes.values() for n, p in h.named_parameters()
                               if p.requires_grad and id(p) not in owned and id(p) not in elsewhere))
    if stray:
        shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        print(f"unigen: warning: {len(stray)} trainable parameter tensor(s) in the modules of the players' programs "
              f"are reached by no player's trace and will keep their initial values ({shown}); if a program uses "
              f"them, register the module there with pyro.module(name, module)", file=sys.stderr)


def check_guide(programs: Programs, probe: Batch) -> None:
    """Refuse, in one line, a guide that does not fit the model (call after :meth:`Programs.bind`):

    * a guide site that the model lacks (a misnamed latent: the bound would be meaningless);
    * a Pyro autoguide (``AutoNormal``, ``AutoDelta``, … or a part of an ``AutoGuideList``) given a
      per-example latent, i.e. one inside the data plate: an autoguide learns one set of parameters per
      site, so it cannot amortise over examples — infer such latents with an encoder network instead.
    """
    from pyro.infer.autoguide import AutoCallable, AutoGuide, AutoGuideList

    try:
        with torch.no_grad(), torch.random.fork_rng(devices=_cuda(probe.x)):
            guide_tr = trace_guide(programs.guide, probe.x, probe.c)
            model_tr = score_model(programs.model, probe.x, probe.c, replay=guide_tr)
    except (TypeError, ValueError, RuntimeError, AttributeError, KeyError) as e:
        detail = first_line(e, "")[:160]
        raise UserError(f"calling the guide as guide(x{', c' if probe.c is not None else ''}) and replaying the "
                        f"model on it failed ({type(e).__name__}: {detail}); the guide takes the model's arguments "
                        f"and samples its latent sites") from None
    guided, latents = latent_names(guide_tr), latent_names(model_tr)
    extra = sorted(guided - latents)
    if extra:
        raise UserError(f"the guide samples {', '.join(map(repr, extra))}, which the model does not have (its "
                        f"latent sites: {', '.join(map(repr, sorted(latents))) or 'none'}); name the guide's sites "
                        f"as the model's")
    data_plates = {f.name for f in model_tr.nodes[programs.obs_name]["cond_indep_stack"]}
    guide = programs.guide
    parts = list(guide) if isinstance(guide, AutoGuideList) else [guide]
    for part in parts:
        if not isinstance(part, AutoGuide) or isinstance(part, AutoCallable):
            continue
        proto = getattr(part, "prototype_trace", None)
        local = sorted(n for n in latent_names(proto) if {f.name for f in proto.nodes[n]["cond_indep_stack"]}
                       & data_plates) if proto is not None else []
        if local:
            raise UserError(f"{type(part).__name__} was given the per-example latent(s) {', '.join(map(repr, local))} "
                            f"(inside the data plate); an autoguide learns one value per site and cannot amortise "
                            f"over examples: infer them with an encoder network and keep the autoguide for global "
                            f"latents: auto = AutoNormal(poutine.block(model, expose=[the global sites])), then "
                            f"def guide(x): auto(x); encoder_guide(x) (README, 'For Pyro users')")


def _cuda(x: Tensor) -> list:
    return [x.device] if x.device.type == "cuda" else []


# ----------------------------------------------------------------------------------------- traces
#: a role's signature -> how unigen passes it the label: "positional", "keyword" (a parameter ``c`` after ``*``) or
#: ``None`` (it cannot take one). Keyed by the function that holds the signature, then by whether it is bound.
_LABEL_MODES: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()


def _handler_inner(fn: Callable) -> Callable | None:
    """The program inside one layer of Pyro's handler wrapping (``poutine.trace(f)``, ``replay``, ``block``...),
    or ``None`` if ``fn`` is not such a wrapper. A user's own ``functools.partial`` is not one."""
    if isinstance(fn, _bound_partial):
        return fn.func
    if isinstance(fn, functools.partial) and fn.func is _context_wrap and len(fn.args) >= 2:
        return fn.args[1]
    return None


def _call_target(fn: Callable) -> Callable:
    """The callable whose signature a call of ``fn`` meets: through Pyro's handlers, an autoguide (its model),
    DDP and ``torch.compile`` wrappers, and a module's ``forward`` as its instance resolves it."""
    for _ in range(32):  # layer by layer; the bound only guards against a cycle
        inner = _handler_inner(fn)
        if inner is None and isinstance(fn, AutoGuide) and fn.model is not None:
            inner = fn.model  # an autoguide is called with its model's arguments
        elif inner is None and isinstance(fn, nn.Module):
            inner = getattr(fn, "module", None) if isinstance(fn, nn.parallel.DistributedDataParallel) else \
                getattr(fn, "_orig_mod", None)  # a DDP wrapper, a torch.compile'd module
            if inner is None:
                return fn.forward  # the instance's: a bound method, or a function set on the instance
        if inner is None:
            return fn
        fn = inner
    return fn


def _label_mode(target: Callable, inputs: int) -> str | None:
    try:
        params = list(inspect.signature(target).parameters.values())  # bound methods, partials, __wrapped__
    except (TypeError, ValueError):  # a builtin: assume it takes what it is given
        return "positional"
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return "positional"
    if sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) > inputs:
        return "positional"
    if any(p.name == "c" and p.kind is p.KEYWORD_ONLY for p in params):
        return "keyword"
    return None


def label_mode(fn: Callable, inputs: int = 1) -> str | None:
    """How a role takes the label ``c`` after its ``inputs`` inputs, as unigen calls roles on labelled data:
    ``"positional"`` (``model(x, c)``, ``critic(x, z, c)``), ``"keyword"`` (a keyword-only ``c``: ``model(x, *,
    c=None)``) or ``None``: a program written without one (``def model(x)``, an ``nn.Sequential``
    discriminator) is called with its inputs alone, as Pyro's SVI passes a program only what it takes. Read from
    the signature that the call meets (:func:`_call_target`), once per function."""
    target = _call_target(fn)
    func, bound = (target.__func__, True) if inspect.ismethod(target) else (target, False)
    try:
        modes = _LABEL_MODES.setdefault(func, {})
    except TypeError:  # not weak-referenceable: no cache
        return _label_mode(target, inputs)
    key = (bound, inputs)
    if key not in modes:
        modes[key] = _label_mode(target, inputs)
    return modes[key]


def takes_label(fn: Callable, inputs: int = 1) -> bool:
    """Whether a role takes the label ``c`` after its ``inputs`` inputs (:func:`label_mode`)."""
    return label_mode(fn, inputs) is not None


def _call_with_label(call: Callable, fn: Callable, args: tuple, c: Tensor | None):
    """``call(*args)``, with ``c`` appended as role ``fn`` takes it (:func:`label_mode`)."""
    mode = None if c is None else label_mode(fn, len(args))
    if mode == "positional":
        return call(*args, c)
    if mode == "keyword":
        return call(*args, c=c)
    return call(*args)


def with_condition(fn: Callable, *args, c: Tensor | None = None):
    """Call a role with ``c`` when there is a condition and the role takes one (:func:`label_mode`)."""
    return _call_with_label(fn, fn, args, c)


def trace_program(fn: Callable, x: Tensor, c: Tensor | None = None, **options) -> poutine.Trace:
    """``poutine.trace(fn, **options).get_trace(x[, c])``: the label only for a program that takes one."""
    return _call_with_label(poutine.trace(fn, **options).get_trace, fn, (x,), c)


def discriminate(programs: Programs, x: Tensor, c: Tensor | None = None) -> Tensor:
    """Logits ``d(x)`` of the discriminator, shape ``(batch,)``."""
    return with_condition(programs.discriminator, x, c=c)


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


def find_observed(model: Callable, probe: Batch, name: str | None = None) -> str:
    """The observed site of ``model(probe.x, probe.c)``: ``name`` if given (checked), else the only one."""
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=_cuda(probe.x)):  # the run's random streams stay
            tr = trace_program(model, probe.x, probe.c)
    except UserError:
        raise
    except Exception as e:  # a user's program failing on its first call: say how unigen calls it
        detail = first_line(e, "")[:160]
        raise UserError(f"calling the model as model(x{', c' if probe.c is not None else ''}) failed "
                        f"({type(e).__name__}: {detail}); unigen calls it as Pyro's SVI does, with the data "
                        f"batch x observed by pyro.sample(..., obs=x)") from None
    observed = [n for n, s in tr.nodes.items()
                if s["type"] == "sample" and s["is_observed"] and not site_is_subsample(s)]
    if name is not None:
        if name not in observed:
            raise UserError(f"the model has no observed site {name!r} (observed: {', '.join(observed) or 'none'}); "
                            f"pass Programs(..., obs=...) naming the site that observes x")
        return name
    if not observed:
        raise UserError("the model observes no site; write pyro.sample('x', likelihood, obs=x) inside "
                        "pyro.plate('data', x.shape[0]), as for Pyro's SVI")
    if len(observed) > 1:
        # suggest the site whose observed value is the data batch itself (a label site observes c)
        def is_data(v) -> bool:  # the batch itself, or the batch reshaped (Pyro's tutorials observe x.reshape(-1, 784))
            return (isinstance(v, torch.Tensor) and v.numel() == probe.x.numel()
                    and torch.equal(v.reshape(probe.x.shape[0], -1), probe.x.reshape(probe.x.shape[0], -1)))

        data_sites = [n for n in observed if is_data(tr.nodes[n]["value"])]
        guess = (data_sites or observed)[0]
        raise UserError(f"the model observes several sites ({', '.join(observed)}); name the one that observes "
                        f"the data with Programs(..., obs={guess!r})")
    return observed[0]


class Unobserve(UnconditionMessenger):
    """``poutine.uncondition`` of one site: the data site is drawn from its distribution, while other
    observed sites (e.g. a label observed as ``obs=c``) stay observed."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def _pyro_sample(self, msg) -> None:
        if msg["name"] == self.name:
            super()._pyro_sample(msg)


def score_model(model: Callable, x: Tensor, c: Tensor | None = None,
                replay: poutine.Trace | None = None) -> poutine.Trace:
    """Trace ``model(x, c)``, which observes ``x`` itself; ``replay`` reuses a guide's latents."""
    return trace_program(model if replay is None else poutine.replay(model, trace=replay), x, c)


def sample_model(programs: Programs, n: int, c: Tensor | None = None, model: Callable | None = None,
                 replay: poutine.Trace | None = None, like: Tensor | None = None) -> poutine.Trace:
    r"""Trace the model with its data site drawn, not observed (:class:`Unobserve`): a draw of
    ``n`` joint samples :math:`(z, x) \sim p_\theta`. ``model`` replaces ``programs.model`` (e.g. wrapped
    in a ``condition`` handler); ``replay`` reuses latents (a reconstruction). The model is called with a
    zero ``x`` of ``n`` examples shaped like ``like`` (a data batch; by default the bound event shape)."""
    fn = Unobserve(programs.obs_name)(programs.model if model is None else model)
    if replay is not None:
        fn = poutine.replay(fn, trace=replay)
    x = programs.placeholder(n) if like is None else like.new_zeros((n, *like.shape[1:]))
    return trace_program(fn, x, c)


def trace_guide(guide: Callable, x: Tensor, c: Tensor | None = None) -> poutine.Trace:
    return trace_program(guide, x, c)


def log_prob(fn, value: Tensor) -> Tensor:
    r"""``fn.log_prob(value)``, bit for bit, with one shortcut: for independent Bernoulli pixels given by logits
    (the image likelihood of the VAE models) the binary cross-entropies are summed over the event *before* the
    sign flip, :math:`-\sum_i \mathrm{BCE}_i` rather than :math:`\sum_i (-\mathrm{BCE}_i)`. Negation is exact
    in floating point and the sum runs in the same order, so the value is identical; the negation (forward and
    backward) then touches one number per example instead of every pixel: two passes over :math:`K \times B
    \times D` values fewer per IWAE update."""
    base = getattr(fn, "base_dist", None)
    if (type(fn) is Independent and type(base) is Bernoulli and "logits" in base.__dict__
            and not base._validate_args):
        logits, value = broadcast_all(base.logits, value)
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -_sum_rightmost(bce, fn.reinterpreted_batch_ndims)
    return fn.log_prob(value)


def site_log_prob(site: dict, batch_size: int) -> Tensor:
    """Log-density of one sample site per example, shape ``(batch,)``.

    Sites outside the data plate (global latents) are spread evenly over the batch so that the sum
    over the batch is the joint log-density. Scale and mask from plates/handlers are applied.
    """
    lp = scale_and_mask(log_prob(site["fn"], site["value"]), site.get("scale", 1.0), site.get("mask"))
    if lp.dim() == 0:
        return lp.expand(batch_size) / batch_size
    if lp.dim() == 1 and lp.shape[0] == batch_size:  # already per example: a sum over one term is the identity
        return lp
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
            if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)
            and not (s.get("infer") or {}).get("was_observed")  # an unconditioned run draws x: not a latent
            and not (s.get("infer") or {}).get("is_auxiliary")}  # an autoguide's unconstrained helper sites


def observed_value(programs: Programs, trace: poutine.Trace) -> Tensor:
    r"""The generated ``x`` of a model trace, differentiable in :math:`\theta` where possible.

    A reparameterisable likelihood (``Delta``, ``Normal``) gives its sample; one that is not
    (``Bernoulli``) gives its mean, the usual choice when a VAE decoder is trained adversarially.
    """
    site = trace.nodes[programs.obs_name]
    return site["value"] if site["fn"].has_rsample else site["fn"].mean


def has_density(programs: Programs, c: Tensor | None = None) -> bool:
    """Whether the model scores data, i.e. its observed site has a density (is not a ``Delta``)."""
    import pyro.distributions as dist

    with torch.no_grad(), torch.random.fork_rng(devices=_cuda(programs.anchor)):  # the run's streams stay
        fn = sample_model(programs, 1, None if c is None else c[:1]).nodes[programs.obs_name]["fn"]
    while isinstance(fn, dist.Independent):
        fn = fn.base_dist
    return not isinstance(fn, dist.Delta)


def generate(programs: Programs, batch_size: int, c: Tensor | None = None,
             like: Tensor | None = None) -> tuple[Tensor, poutine.Trace]:
    """Draw ``x ~ p_θ(x)`` (through :func:`observed_value`) and return it with its trace; ``like`` as in
    :func:`sample_model` (strategies pass their data batch)."""
    tr = sample_model(programs, batch_size, c, like=like)
    return observed_value(programs, tr), tr


# ------------------------------------------------------------------------- discriminator q(y|x)
def log_q_real(logits: Tensor) -> Tensor:
    r""":math:`\log q_\phi(y{=}1 \mid x) = \log \sigma(d) = -\mathrm{softplus}(-d)`."""
    return -F.softplus(-logits)


def log_q_fake(logits: Tensor) -> Tensor:
    r""":math:`\log q_\phi(y{=}0 \mid x) = \log(1 - \sigma(d)) = -\mathrm{softplus}(d)`."""
    return -F.softplus(logits)
