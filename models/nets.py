r"""Building blocks shared by the model specs: networks, label conditioning and the two Pyro programs.

Every model in :mod:`unigen.models` has the same probabilistic skeleton and differs only in its networks:

.. math::

    \text{model:}\quad z \sim \mathcal N(0, I), \qquad x \sim p_\theta(x \mid z, c);
    \qquad\qquad
    \text{guide:}\quad z \sim q_\phi(z \mid x, c) = \mathcal N\big(\mu_\phi(x, c), \operatorname{diag}\sigma_\phi^2(x, c)\big).

:class:`LatentModel` and :class:`GaussianGuide` are those two programs; a spec supplies the likelihood
(a module ``(z, c) -> distribution over x``) and the encoder features. The discriminator role is a plain
module ``(x, c) -> logits (batch,)``, wrapped by :class:`Discriminator`.

Two optional roles serve the hybrid strategies, each built only for a strategy that asks for it
(:mod:`unigen.models.spec`). ``latent_discriminator`` (:func:`latent_discriminator`) is
an MLP over :math:`z` returning logits, the adversarial autoencoder's critic of :math:`q(z)` against
:math:`p(z)` (Makhzani et al., 2016). With InfoGAN latent codes (Chen et al., 2016), :class:`Codes` samples
``"code_cat"`` (uniform one-hot categorical) and/or ``"code"`` (:math:`U(-1, 1)^k` or :math:`\mathcal N(0, I_k)`)
under the data plate and feeds them to the generator beside :math:`z`, and :class:`CodePosterior` is the
``code_posterior`` role :math:`q_\phi(\text{code} \mid x, c)`. :class:`JointCritic` is any critic a strategy
asks for by its inputs (:class:`unigen.roles.Critic`), on the spec's features of ``x`` and
:func:`latent_features` of ``z``.

Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida, ICLR 2018), the ``spectral_norm`` setting of every spec
that builds critics (:func:`apply_spectral_norm`, applied by :class:`unigen.models.spec.Networks` once a spec's
roles are built and initialised): each Linear or convolution weight :math:`W` is used as

.. math::

    \tilde u \leftarrow \frac{W_{\text{mat}} \tilde v}{\lVert W_{\text{mat}} \tilde v \rVert}, \quad
    \tilde v \leftarrow \frac{W_{\text{mat}}^\top \tilde u}{\lVert W_{\text{mat}}^\top \tilde u \rVert}, \qquad
    \tilde\sigma(W) = \tilde u^\top W_{\text{mat}} \tilde v, \qquad \bar W = W / \tilde\sigma(W),

where :math:`W_{\text{mat}}` is the weight reshaped to ``(out, in·k·k)`` and :math:`\tilde u, \tilde v` are
estimates of its first singular vectors, refined by one power iteration at each call in training mode (15 when
wrapped) and frozen in evaluation mode. With every layer's :math:`\sigma(\bar W) \approx 1` and 1-Lipschitz
activations, the network is (about) 1-Lipschitz. One iteration per call tracks :math:`\sigma` while the weights move
slowly: after 40 hinge steps at Miyato et al.'s Adam rate :math:`2 \cdot 10^{-4}` every :math:`\sigma(\bar W)` is
within :math:`10^{-2}` of 1 (tested), but at :math:`2 \cdot 10^{-3}` a layer lagged to 1.03 after 25 steps. As in Miyato et al. (and torch), :math:`\sigma` is that of the
reshaped kernel, which bounds the convolution's operator norm only up to a factor of order the kernel size.
``"critic"`` normalises the critic roles (``discriminator``, ``latent_discriminator``, ``critic_a``/``critic_b``,
``domain_discriminator`` and every critic a strategy requests by its inputs); ``"all"`` also the ``model``'s networks
(generator or decoder; CycleGAN's translators; DANN's feature extractor and label classifier), as SAGAN does for its
generator (Zhang et al., 2019). Inference networks (a guide, a code posterior, a classifier) are never normalised.
Normalisation layers in a critic (DCGAN's ``disc_norm=batch``/``layer``) are allowed beside it but are not
normalised: their scales and their division by batch statistics void the Lipschitz bound (Miyato et al.'s critics
have none; ``disc_norm=none`` is their setting). The estimates :math:`\tilde u, \tilde v` are module buffers
(``..._u``, ``..._v``), so checkpoints and exports hold them, a resumed run continues bit for bit, and a traced
step (``train.compile=trace``/``trace-eager``) takes them as state that its graph updates in place. Under
``train.compile=cudagraph`` the power iteration is capture-safe: ``mv``, ``normalize`` written into the buffers
(``out=``), ``vdot`` and a division, at fixed addresses, with no host read (not yet run on a GPU).

Capture safety (a training step may run inside a CUDA graph): prior parameters are expanded from
registered buffers, labels are one-hot encoded by comparison with a buffer (``F.one_hot`` syncs on CPU
to check the range), plates are placed on the device of the program's tensors, and nothing reads a
tensor back to the host. The only Python branches are on settings fixed at build time.
"""
import math
from typing import Callable, List, Optional, Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from unigen.errors import UserError
from unigen.programs import DataInfo

LATENT = "z"  # the name of the latent sample site shared by model and guide
CODE_CAT = "code_cat"  # InfoGAN's categorical code: one-hot, uniform prior
CODE = "code"  # InfoGAN's continuous code
CODE_PRIORS = ("uniform", "normal")
SCALE_FLOOR = 1e-4  # added to softplus scales so that q(z|x) never degenerates
SPECTRAL_NORM = ("none", "critic", "all")  # the ``spectral_norm`` setting: which roles are normalised
NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


# --------------------------------------------------------------------------------------- networks
def mlp(sizes: Sequence[int], act: Callable[[], nn.Module] = nn.ReLU, final_act: bool = False,
        batch_norm: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with ``act`` between them.

    ``final_act`` also applies the activation after the last layer (for feature extractors); ``batch_norm`` puts a
    batch norm before every activation (Ioffe & Szegedy, 2015).
    """
    layers: List[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_act or i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(fan_out), act()] if batch_norm else [act()]
    return nn.Sequential(*layers)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    r"""Spectrally normalise (Miyato et al., 2018) the weight of every Linear and convolution layer in ``module``,
    in place, with :func:`torch.nn.utils.parametrizations.spectral_norm` (one power iteration per training-mode
    call; transposed convolutions reshaped along their output channels). A layer already normalised is left as
    it is, so a module shared by two roles is wrapped once. Returns ``module``.

    Wrapping draws :math:`\tilde u, \tilde v` from the global random stream, so call it after the weights are
    initialised (the estimates start from 15 power iterations on the final weights)."""
    layers = [m for m in module.modules() if isinstance(m, NORMALISED) and not parametrize.is_parametrized(m, "weight")]
    for m in layers:  # collected first: wrapping adds submodules
        spectral_norm(m)
    return module


class Maxout(nn.Module):
    r"""A maxout layer (Goodfellow et al., 2013): :math:`h_j = \max_{k \le K} (W_k x + b_k)_j`, ``pieces`` = K linear
    pieces per unit, one Linear of ``fan_out · K`` outputs reshaped to ``(batch, fan_out, K)`` and maximised over K."""

    def __init__(self, fan_in: int, fan_out: int, pieces: int):
        super().__init__()
        self.fan_out, self.pieces = fan_out, pieces
        self.linear = nn.Linear(fan_in, fan_out * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(-1, (self.fan_out, self.pieces)).amax(-1)


def maxout_mlp(sizes: Sequence[int], pieces: int, final_act: bool = False) -> nn.Sequential:
    """:func:`mlp` with every hidden layer a :class:`Maxout` of ``pieces`` pieces (the activation is the max); the
    last layer Linear unless ``final_act`` (a feature network: every layer maxout)."""
    n = len(sizes) - 1
    return nn.Sequential(*[Maxout(a, b, pieces) if final_act or i < n - 1 else nn.Linear(a, b)
                           for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))])


def leaky_relu() -> nn.Module:
    """LeakyReLU with slope 0.2, the discriminator activation of Radford et al. (2016)."""
    return nn.LeakyReLU(0.2)


def flatten(x: Tensor) -> Tensor:
    """``(batch, *event_shape) -> (batch, prod(event_shape))`` (a view where possible)."""
    return x.flatten(1) if x.dim() > 1 else x.unsqueeze(1)  # not einops: its parse costs ~15 µs a call


class Labels(nn.Module):
    r"""One-hot conditioning on class labels ``c`` of shape ``(batch,)``; a no-op when unconditional.

    The one-hot code is :math:`[c = k]_{k < K}`, computed by comparison with a buffer ``arange(K)`` so
    that it is capture-safe on every device. An unconditional ``Labels(None)`` ignores ``c``.
    """

    def __init__(self, num_classes: Optional[int]):
        super().__init__()
        self.num_classes = num_classes
        self.dim = num_classes or 0  # width added to the inputs
        if num_classes:
            self.register_buffer("classes", torch.arange(num_classes), persistent=False)

    def onehot(self, c: Optional[Tensor], like: Tensor) -> Tensor:
        if c is None:  # a structural check on the call, not on data
            raise UserError("this model is conditional: pass labels c of shape (batch,), "
                            "or set model.conditional=false")
        return (c.reshape(-1, 1) == self.classes).to(like.dtype)  # (batch, K)

    def append(self, h: Tensor, c: Optional[Tensor]) -> Tensor:
        """``(batch, F) -> (batch, F + K)``."""
        if not self.dim:
            return h
        return torch.cat([h, self.onehot(c, h)], dim=-1)

    def append_channels(self, x: Tensor, c: Optional[Tensor]) -> Tensor:
        """``(batch, C, H, W) -> (batch, C + K, H, W)``: the one-hot code as constant feature maps."""
        if not self.dim:
            return x
        maps = self.onehot(c, x)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, maps], dim=1)


class FlatNet(nn.Module):
    """``(x, c) -> net(flatten(x) ⊕ onehot(c))``: an MLP over any event shape."""

    def __init__(self, net: nn.Module, labels: Labels):
        super().__init__()
        self.net, self.labels = net, labels

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.net(self.labels.append(flatten(x), c))


# ------------------------------------------------------------------------------- distributions
_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))  # torch's Normal.log_prob constant, to the bit


class _UnitNormal(dist.Normal):
    r"""A ``Normal`` whose ``loc`` is exactly 0 and ``scale`` exactly 1 (:class:`StandardNormal`'s buffers):
    :math:`\log p(v) = -v^2 / 2 - \log\sqrt{2\pi}`. Subtracting ``loc`` = 0 and :math:`\log 1` and dividing
    by :math:`2\sigma^2 = 2` are exact in floating point, so value and gradient are ``Normal.log_prob``'s bit
    for bit (tested) with five tensor operations fewer, a host-bound step's share."""

    def log_prob(self, value: Tensor) -> Tensor:
        if value.shape != self.loc.shape or value.dtype != self.loc.dtype:  # broadcasting or promoting: Normal's
            return super().log_prob(value)
        if self._validate_args:
            self._validate_sample(value)
        return -(value**2) / 2 - _LOG_SQRT_2PI


class StandardNormal(nn.Module):
    r"""The prior :math:`p(z) = \mathcal N(0, I_d)`, expanded to ``(batch, d)`` from buffers.

    The buffers follow ``.to(device, dtype)``, so no Python float or host tensor enters the program.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("loc", torch.zeros(dim), persistent=False)
        self.register_buffer("scale", torch.ones(dim), persistent=False)

    def forward(self, batch_size: int) -> dist.Distribution:
        shape = (batch_size, self.loc.shape[0])
        return _UnitNormal(self.loc.expand(shape), self.scale.expand(shape)).to_event(1)


class GaussianHead(nn.Module):
    r"""Features ``h`` to :math:`\mathcal N(\mu, \operatorname{diag}\sigma^2)` with
    :math:`\sigma = \operatorname{softplus}(\cdot) + 10^{-4}` (Kingma & Welling, 2014)."""

    def __init__(self, in_dim: int, z_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, 2 * z_dim)

    def forward(self, h: Tensor) -> dist.Distribution:
        loc, raw = self.linear(h).chunk(2, dim=-1)  # (batch, z_dim) each
        return dist.Normal(loc, F.softplus(raw) + SCALE_FLOOR).to_event(1)


class OneHotCode(dist.OneHotCategorical):
    r"""A one-hot categorical sampled by the Gumbel-max trick,
    :math:`\arg\max_k (\ell_k - \log(-\log u_k))`, :math:`u_k \sim U(0, 1)`: the same distribution as
    ``OneHotCategorical``, whose ``torch.multinomial`` sampler checks its input on the host."""

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)  # (..., K)
        logits = self.logits.expand(shape)
        u = torch.rand(shape, dtype=logits.dtype, device=logits.device).clamp_min(torch.finfo(logits.dtype).tiny)
        keys = logits - torch.log(-torch.log(u))
        return torch.zeros_like(keys).scatter_(-1, keys.argmax(-1, keepdim=True), 1.0)


class Codes(nn.Module):
    r"""InfoGAN's latent codes (Chen et al., 2016), sampled inside the caller's data plate.

    ``"code_cat"``: one-hot :math:`\mathrm{Cat}(1/K, \dots, 1/K)` over ``classes`` categories, and ``"code"``:
    :math:`U(-1, 1)^{\text{dim}}` (``prior="uniform"``) or :math:`\mathcal N(0, I)` (``"normal"``). Either may
    be absent (0). ``forward`` returns the generator's extra input, ``(batch, classes + dim)``.
    """

    def __init__(self, classes: int, dim: int, prior: str):
        super().__init__()
        self.classes, self.dim, self.uniform = classes, dim, prior == "uniform"
        self.width = classes + dim
        if classes:
            self.register_buffer("logits", torch.zeros(classes), persistent=False)
        if dim:  # (low, high) for the uniform prior, (loc, scale) for the normal one
            self.register_buffer("first", -torch.ones(dim) if self.uniform else torch.zeros(dim), persistent=False)
            self.register_buffer("second", torch.ones(dim), persistent=False)

    def forward(self, batch_size: int) -> Tensor:
        parts = []
        if self.classes:  # fixed at build time
            parts.append(pyro.sample(CODE_CAT, OneHotCode(logits=self.logits.expand(batch_size, self.classes))))
        if self.dim:
            shape = (batch_size, self.dim)
            family = dist.Uniform if self.uniform else dist.Normal
            parts.append(pyro.sample(CODE, family(self.first.expand(shape), self.second.expand(shape)).to_event(1)))
        return torch.cat(parts, dim=-1)  # (batch, classes + dim)


def build_codes(model: str, classes: int, dim: int, prior: str) -> Optional[Codes]:
    """The model's :class:`Codes`, ``None`` without codes, or a :class:`UserError` naming the fix."""
    if classes < 0 or classes == 1:
        raise UserError(f"model {model!r}: code_classes={classes} must be 0 (no categorical code) or >= 2; "
                        f"set model.code_classes")
    if dim < 0:
        raise UserError(f"model {model!r}: code_dim={dim} must be >= 0; set model.code_dim")
    return Codes(classes, dim, prior) if classes or dim else None


#: the observed site of unigen's models (any name works: the site is found from the trace)
OBS = "x"


# ------------------------------------------------------------------------------------ programs
class LatentModel(nn.Module):
    r"""The ``model`` role, ``model(x, c=None)`` as in Pyro: :math:`z \sim \mathcal N(0, I)` at site ``"z"``,
    :math:`x \sim p_\theta(x \mid z, c)` observed at site ``"x"``; with :class:`Codes`, the code sites are
    sampled after ``"z"`` and appended to it.

    ``likelihood(z, c)`` returns a distribution with batch shape ``(batch,)`` and the data's event shape:
    a ``Delta`` makes an implicit (GAN) generator, a density makes a VAE decoder.
    """

    def __init__(self, z_dim: int, likelihood: nn.Module, codes: Optional[Codes] = None):
        super().__init__()
        self.prior = StandardNormal(z_dim)
        self.likelihood = likelihood
        self.codes = codes

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        n = x.shape[0]
        with pyro.plate("data", n, device=x.device):
            z = pyro.sample(LATENT, self.prior(n))  # (batch, z_dim)
            if self.codes is not None:  # fixed at build time
                z = torch.cat([z, self.codes(n)], dim=-1)  # (batch, z_dim + code width)
            return pyro.sample(OBS, self.likelihood(z, c), obs=x)  # (batch, *event_shape)


class GaussianGuide(nn.Module):
    r"""The ``guide`` role: :math:`z \sim q_\phi(z \mid x, c)`, a diagonal Gaussian over site ``"z"`` whose
    parameters are a :class:`GaussianHead` on ``features(x, c)`` of width ``feature_dim``."""

    def __init__(self, features: nn.Module, feature_dim: int, z_dim: int):
        super().__init__()
        self.features = features
        self.head = GaussianHead(feature_dim, z_dim)

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        with pyro.plate("data", x.shape[0], device=x.device):
            return pyro.sample(LATENT, self.head(self.features(x, c)))  # (batch, z_dim)


class Discriminator(nn.Module):
    """The ``discriminator`` role: ``net(x, c)`` of shape ``(batch, 1, ...)`` read as logits ``(batch,)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.net(x, c).reshape(x.shape[0])  # (batch,)


class CodePosterior(nn.Module):
    r"""The ``code_posterior`` role :math:`q_\phi(\text{code} \mid x, c)` of InfoGAN (Chen et al., 2016).

    On ``features(x, c)`` of width ``feature_dim``: a logits head over ``"code_cat"`` (``classes`` > 0) and a
    factored Gaussian :class:`GaussianHead` over ``"code"`` (``dim`` > 0), under the data plate. Chen et al.
    share the discriminator's body with this network; here it has its own ``features`` (the model specs
    give it the discriminator's architecture, not its weights), so that every role owns its parameters.
    """

    def __init__(self, features: nn.Module, feature_dim: int, classes: int, dim: int):
        super().__init__()
        self.features = features
        self.categorical = nn.Linear(feature_dim, classes) if classes else None
        self.continuous = GaussianHead(feature_dim, dim) if dim else None

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        h = self.features(x, c)
        parts = []
        with pyro.plate("data", x.shape[0], device=x.device):
            if self.categorical is not None:  # fixed at build time
                parts.append(pyro.sample(CODE_CAT, OneHotCode(logits=self.categorical(h))))  # (batch, K)
            if self.continuous is not None:
                parts.append(pyro.sample(CODE, self.continuous(h)))  # (batch, dim)
        return torch.cat(parts, dim=-1)


def latent_discriminator(z_dim: int, hidden: int, depth: int, labels: Labels) -> Discriminator:
    r"""The ``latent_discriminator`` role: an MLP (LeakyReLU 0.2) from ``z`` ``(batch, z_dim)`` (with the one-hot
    label when conditional) to logits ``(batch,)``; real are prior samples, fake are :math:`q(z \mid x)` samples."""
    return Discriminator(FlatNet(mlp([z_dim + labels.dim] + [hidden] * depth + [1], act=leaky_relu), labels))


def latent_features(z_dim: int, hidden: int, labels: Labels) -> FlatNet:
    """Features of ``z`` ``(batch, z_dim)`` for a generic critic: one LeakyReLU layer of ``hidden`` units."""
    return FlatNet(mlp([z_dim + labels.dim, hidden], act=leaky_relu, final_act=True), labels)


#: the forms of a joint critic (``joint_critic``, :class:`unigen.models.spec.Networks`): ``"features"`` (each input
#: through its own feature network, then a head) or ``"concat"`` (one MLP on the concatenated raw inputs, with
#: dropout: the reference form of Dumoulin et al.'s 2-D mixture)
JOINT_CRITICS = ("features", "concat")
#: the reference's dropout of the ``"concat"`` form: on the critic's inputs, on the input of every later layer
#: (IshmaelBelghazi/ALI, ``experiments/ali_mixture.py``)
CONCAT_DROPOUT = (0.2, 0.5)


class JointCritic(nn.Module):
    r"""A critic on several inputs, ``critic(v_1, ..., v_n, c=None) -> logits (batch,)``: each input through
    its own features ``(v, c) -> (batch, width_i)``, concatenated, then an MLP head (LeakyReLU 0.2) of ``depth``
    hidden layers of ``hidden`` units. With inputs ``(x, z)`` it is ALI's joint discriminator :math:`D(x, z)`
    (Dumoulin et al., 2017).

    ``dropout = (p_in, p_hidden)`` puts ``Dropout(p_in)`` on the head's input and ``Dropout(p_hidden)`` on the
    input of each later Linear layer (active in training mode only); ``(0, 0)``, the default, adds no module, so
    the default head is ``Linear → LeakyReLU → Linear`` with the parameter names it always had.

    Two forms, built by :class:`unigen.models.spec.Networks` (its ``joint_critic`` setting):

    * ``"features"``: the spec's feature networks (the discriminator's body for ``x``, one layer for ``z``: see
      :func:`latent_features`), then a one-layer head, no dropout;
    * ``"concat"`` (:meth:`concat`): the raw inputs flattened and concatenated, the one-hot label appended once,
      then one MLP with dropout 0.2 on its inputs and 0.5 on its hidden layers (:data:`CONCAT_DROPOUT`): the form
      of the reference code's 2-D mixture (IshmaelBelghazi/ALI), where ``x`` and ``z`` get the same capacity.
    """

    def __init__(self, features: Sequence[nn.Module], width: int, hidden: int, depth: int = 1,
                 dropout: tuple[float, float] = (0.0, 0.0)):
        super().__init__()
        if depth < 1:
            raise UserError(f"a joint critic needs depth >= 1 hidden layer, got {depth}")
        if not all(0 <= p < 1 for p in dropout):
            raise UserError(f"a joint critic's dropout must lie in [0, 1), got {tuple(dropout)}")
        self.features = nn.ModuleList(features)
        self.head = mlp([width] + [hidden] * depth + [1], act=leaky_relu)
        p_in, p_hidden = dropout
        if p_in or p_hidden:  # a dropout before every Linear: p_in before the first, p_hidden before the others
            layers: List[nn.Module] = []
            for i, layer in enumerate(self.head):
                if isinstance(layer, nn.Linear):
                    layers.append(nn.Dropout(p_in if i == 0 else p_hidden))
                layers.append(layer)
            self.head = nn.Sequential(*layers)

    @classmethod
    def concat(cls, widths: Sequence[int], labels: "Labels", hidden: int, depth: int,
               dropout: tuple[float, float] = CONCAT_DROPOUT) -> "JointCritic":
        r"""The reference form: ``MLP(flatten(v_1) ⊕ … ⊕ flatten(v_n) ⊕ onehot(c))`` with dropout; ``widths``: each
        input's flattened width; ``labels``: the label conditioning (appended once, after the first input)."""
        inputs = [FlatNet(nn.Identity(), labels if i == 0 else Labels(None)) for i in range(len(widths))]
        return cls(inputs, sum(widths) + labels.dim, hidden, depth, dropout)

    def forward(self, *inputs: Tensor) -> Tensor:
        n = len(self.features)  # the label, when given, follows the inputs (as ``with_condition`` passes it)
        c = inputs[n] if len(inputs) > n else None
        h = torch.cat([f(v, c) for f, v in zip(self.features, inputs[:n])], dim=-1)  # (batch, width)
        return self.head(h).reshape(h.shape[0])  # (batch,)


# ---------------------------------------------------------------------------- build-time checks
def num_classes_for(model: str, conditional: bool, info: DataInfo) -> Optional[int]:
    """The label count a (possibly) conditional model uses, or a :class:`UserError` naming the fix."""
    if not conditional:
        return None
    if not info.num_classes:
        raise UserError(f"model {model!r} with conditional=true needs labelled data (num_classes); "
                        f"use a labelled dataset or set model.conditional=false")
    return info.num_classes
