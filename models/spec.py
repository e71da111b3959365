r"""What a model spec offers for one data set, and how it builds only the roles it is asked for.

A spec's ``networks(info)`` returns :class:`Networks`: the ``model`` program, a factory per role it names
(``guide``, ``discriminator``, ``latent_discriminator``, ``code_posterior``, ``classifier``; ``None`` where
a role does not apply to its settings, e.g. a code posterior without codes) and feature networks per
input (``"x"``, ``"z"``) from which it builds any :class:`~unigen.roles.Critic` a strategy asks for, in one of
two forms (``joint_critic``, :data:`~unigen.models.nets.JOINT_CRITICS`): ``"features"`` (the spec's feature networks
and a head, the default) or ``"concat"`` (one MLP with dropout on the concatenated raw inputs, the reference form of
Dumoulin et al.'s 2-D mixture). :class:`ModelSpec` gives every spec ``build(info, roles=None, joint_critic=None)``.
"""

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Optional, Tuple

from torch import nn

from unigen.errors import UserError
from unigen.programs import DataInfo, Programs
from unigen.roles import Critic, Role
from unigen.settings import check_choices

from .nets import JOINT_CRITICS, JointCritic, Labels, apply_spectral_norm

#: the roles that are critics, normalised by ``spectral_norm="critic"`` (with every :class:`Critic` request)
CRITIC_ROLES = ("discriminator", "latent_discriminator", "critic_a", "critic_b", "domain_discriminator")

Factory = Callable[[], nn.Module]
Features = Callable[[], Tuple[nn.Module, int]]  # -> (module (v, c) -> (batch, width), width)


@dataclass(frozen=True)
class Networks:
    """The networks a spec can build for one data set (the factories build fresh modules on each call).

    :param model: the ``model`` program's factory (always built).
    :param roles: a factory per role the spec names, in build order; ``None``: not for these settings.
    :param features: per critic input (``"x"``, ``"z"``), a factory of ``(features, width)``.
    :param critic_hidden: the hidden width of a generic critic's head.
    :param obs: the observed site's name, when the spec names it.
    :param finish: applied to the built programs (e.g. an initialisation scheme).
    :param spectral_norm: ``"none"``, ``"critic"`` (the critic roles: :data:`CRITIC_ROLES` and every
        :class:`Critic` request) or ``"all"`` (the ``model`` too): spectral normalisation
        (:func:`~unigen.models.nets.apply_spectral_norm`), applied after ``finish``.
    :param joint_critic: the form of every :class:`Critic` request (:data:`~unigen.models.nets.JOINT_CRITICS`):
        ``"features"``, the inputs' feature networks concatenated and a one-layer head of ``critic_hidden`` units;
        ``"concat"``, one MLP on the concatenated raw inputs (flattened; the one-hot label appended once) with as
        many hidden layers of ``critic_hidden`` units as the first input's feature network has weight layers, and
        dropout 0.2 on its inputs and 0.5 on its hidden layers (:meth:`~unigen.models.nets.JointCritic.concat`).
    """

    model: Factory
    roles: Mapping[str, Optional[Factory]]
    features: Mapping[str, Features]
    critic_hidden: int
    obs: Optional[str] = None
    finish: Callable[[Programs], None] = field(default=lambda programs: None)
    spectral_norm: str = "none"
    joint_critic: str = "features"

    def offered(self) -> tuple[str, ...]:
        """The roles these settings can build, by name."""
        return tuple(name for name, make in self.roles.items() if make is not None)

    def critic(self, request: Critic, info: Optional[DataInfo] = None) -> nn.Module:
        """A critic on ``request.on`` in the form :attr:`joint_critic`: the feature networks concatenated and an MLP
        head, or one MLP with dropout on the concatenated raw inputs (``"concat"``, which needs ``info``)."""
        if self.joint_critic not in JOINT_CRITICS:
            raise UserError(f"joint_critic={self.joint_critic!r} is not one of {', '.join(JOINT_CRITICS)}; "
                            f"set joint_critic=features or joint_critic=concat")
        parts = [self.features[i]() for i in request.on]  # Critic checked its inputs
        if self.joint_critic == "features":
            return JointCritic([m for m, _ in parts], sum(w for _, w in parts), self.critic_hidden)
        if info is None:
            raise UserError("joint_critic=concat needs the data's shape: build the critic with Networks.build(info)")
        widths = [raw_width(name, module, info) for name, (module, _) in zip(request.on, parts)]
        labels = getattr(parts[0][0], "labels", None)
        depth = max(1, sum(isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in parts[0][0].modules()))
        return JointCritic.concat(widths, labels if isinstance(labels, Labels) else Labels(None), self.critic_hidden,
                                  depth)

    def build(self, info: DataInfo, roles: Optional[Iterable[Role]] = None) -> Programs:
        """The programs with the model and the asked roles (``None``: every offered role). A named role
        the spec cannot build is left out: ``strategy.check`` refuses it when it is required."""
        asked = list(self.offered() if roles is None else roles)
        names = {r for r in asked if isinstance(r, str)}
        model = self.model()
        built = {name: make() for name, make in self.roles.items() if name in names and make is not None}
        built.update({r.name: self.critic(r, info) for r in asked if isinstance(r, Critic)})
        programs = Programs(model, built.pop("guide", None), built.pop("discriminator", None), obs=self.obs,
                            **built)
        programs.bind(info.shape)
        self.finish(programs)
        if self.spectral_norm != "none":  # after finish: the estimates start from the initialised weights
            critics = [*CRITIC_ROLES, *(r.name for r in asked if isinstance(r, Critic))]
            normalised = ["model"] if self.spectral_norm == "all" else []
            for name in normalised + [r for r in critics if r in programs.roles]:
                apply_spectral_norm(programs.roles[name])
        return programs


def raw_width(name: str, features: nn.Module, info: DataInfo) -> int:
    """The flattened width of a critic input before its feature network: ``x``'s event size, or for ``z`` the
    input width of its feature network's first Linear layer less its one-hot label (the specs'
    :func:`~unigen.models.nets.latent_features`)."""
    if name == "x":
        return math.prod(info.shape)
    first = next((m for m in features.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise UserError(f"joint_critic=concat cannot tell the width of the critic input {name!r}: its feature network "
                        f"has no Linear layer; use joint_critic=features")
    labels = getattr(features, "labels", None)
    return first.in_features - (labels.dim if isinstance(labels, Labels) else 0)


class ModelSpec:
    """Base of the registered model specs: ``build(info, roles)`` from the spec's :meth:`networks`."""

    def networks(self, info: DataInfo) -> Networks:  # pragma: no cover - every spec defines it
        raise NotImplementedError

    def build(self, info: DataInfo, roles: Optional[Iterable[Role]] = None,
              joint_critic: Optional[str] = None) -> Programs:
        """The Pyro programs for data ``info``: the ``model`` and the ``roles`` asked for, names or
        :class:`~unigen.roles.Critic` requests (runs pass :func:`unigen.roles.needed_roles` of the
        strategy; ``None`` builds every role these settings offer).

        ``joint_critic`` (``"features"`` or ``"concat"``, :class:`Networks`) is the form of the critics built for
        :class:`~unigen.roles.Critic` requests; ``None``: the spec's own ``joint_critic`` setting where it has one,
        else ``"features"``."""
        check_choices(self, "model.", f"model {self.registry_name!r}: ")  # model.likelihood=foo, from Python too
        networks = self.networks(info)
        form = joint_critic if joint_critic is not None else getattr(self, "joint_critic", None)
        if form is not None:
            networks = replace(networks, joint_critic=form)
        return networks.build(info, roles)
