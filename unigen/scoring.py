r"""The helpers strategies are built from: calling roles with or without labels, scoring the model on data,
sampling it with its data site drawn (generation as posterior inference over x), per-example log-densities of
traces, and the discriminator's :math:`\log q_\phi(y \mid x)`.

Everything here is capture-safe: no ``.item()``, no host-to-device copies, no data-dependent Python
branches, so a training step built from these helpers can run inside a CUDA graph. The roles themselves
(:class:`~unigen.programs.Programs`, :class:`~unigen.programs.Batch`) are in :mod:`unigen.programs`.
"""
from __future__ import annotations

import functools
import inspect
import weakref
from typing import TYPE_CHECKING, Callable

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

if TYPE_CHECKING:
    from unigen.programs import Batch, Programs


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
                            f"def guide(x): auto(x); encoder_guide(x) (docs: For Pyro users)")


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
            if inner is None:  # a wrapper naming what it calls (unigen.augment.Augmented: its critic)
                inner = getattr(fn, "__wrapped__", None)
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


def _at_least_float32(t: Tensor) -> Tensor:
    """A half-precision tensor (mixed precision's) in float32; any other as it is."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def log_prob(fn, value: Tensor) -> Tensor:
    r"""``fn.log_prob(value)``, bit for bit, with one shortcut: for independent Bernoulli pixels given by logits
    (the image likelihood of the VAE models) the binary cross-entropies are summed over the event *before* the
    sign flip, :math:`-\sum_i \mathrm{BCE}_i` rather than :math:`\sum_i (-\mathrm{BCE}_i)`. Negation is exact
    in floating point and the sum runs in the same order, so the value is identical; the negation (forward and
    backward) then touches one number per example instead of every pixel: two passes over :math:`K \times B
    \times D` values fewer per IWAE update."""
    base = getattr(fn, "base_dist", None)
    value = _at_least_float32(value)  # mixed precision: densities in float32
    if (type(fn) is Independent and type(base) is Bernoulli and "logits" in base.__dict__
            and not base._validate_args):
        logits, value = broadcast_all(_at_least_float32(base.logits), value)
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


def guide_sites(programs: Programs, probe) -> tuple[list[str], list[str]]:
    """The guide's latent sites on a probe batch (traced without touching the random streams), and those among them
    that cannot be reparameterised (a Bernoulli or Categorical :math:`z`: no sample path for a gradient)."""
    with torch.no_grad(), torch.random.fork_rng(devices=[probe.x.device] if probe.x.is_cuda else []):
        guide_tr = trace_guide(programs.guide, probe.x, probe.c)
    names = sorted(latent_names(guide_tr))
    return names, [n for n in names if not guide_tr.nodes[n]["fn"].has_rsample]


def refuse_unreparameterised_guide(programs: Programs, probe, strategy: str) -> None:
    r"""Refuse, in one line, a guide whose latent sites cannot be reparameterised (a Bernoulli or Categorical
    :math:`z`) for a strategy whose gradient reaches the guide only through :math:`z`'s sample path (the ELBO,
    IWAE): without a score-function term such a guide would train on a biased gradient, silently (these strategies
    enumerate nothing, so an ``enumerate`` mark does not help)."""
    if probe is None or not programs.has("guide"):
        return
    bad = guide_sites(programs, probe)[1]
    if bad:
        raise UserError(f"{strategy}: the guide's site(s) {', '.join(map(repr, bad))} cannot be reparameterised and "
                        f"{strategy} has no score-function term, so their parameters would get a biased gradient; use "
                        f"strategy.name=rws or wake_sleep (no reparameterisation needed), or a relaxed distribution "
                        f"(RelaxedBernoulliStraightThrough, RelaxedOneHotCategorical)")


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
