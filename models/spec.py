r"""What a model spec offers for one data set, and how it builds only the roles it is asked for.

A spec's ``networks(info)`` returns :class:`Networks`: the ``model`` program, a factory per role it names
(``guide``, ``discriminator``, ``latent_discriminator``, ``code_posterior``, ``classifier``; ``None`` where
a role does not apply to its settings, e.g. a code posterior without codes) and feature networks per
input (``"x"``, ``"z"``) from which it builds any :class:`~unigen.roles.Critic` a strategy asks for.
:class:`ModelSpec` gives every spec ``build(info, roles=None)``.
"""

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Tuple

from torch import nn

from unigen.programs import DataInfo, Programs
from unigen.roles import Critic, Role
from unigen.settings import check_choices

from .nets import JointCritic, apply_spectral_norm

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
    """

    model: Factory
    roles: Mapping[str, Optional[Factory]]
    features: Mapping[str, Features]
    critic_hidden: int
    obs: Optional[str] = None
    finish: Callable[[Programs], None] = field(default=lambda programs: None)
    spectral_norm: str = "none"

    def offered(self) -> tuple[str, ...]:
        """The roles these settings can build, by name."""
        return tuple(name for name, make in self.roles.items() if make is not None)

    def critic(self, request: Critic) -> nn.Module:
        """A critic on ``request.on`` from the feature networks: features concatenated, an MLP head."""
        parts = [self.features[i]() for i in request.on]  # Critic checked its inputs
        return JointCritic([m for m, _ in parts], sum(w for _, w in parts), self.critic_hidden)

    def build(self, info: DataInfo, roles: Optional[Iterable[Role]] = None) -> Programs:
        """The programs with the model and the asked roles (``None``: every offered role). A named role
        the spec cannot build is left out: ``strategy.check`` refuses it when it is required."""
        asked = list(self.offered() if roles is None else roles)
        names = {r for r in asked if isinstance(r, str)}
        model = self.model()
        built = {name: make() for name, make in self.roles.items() if name in names and make is not None}
        built.update({r.name: self.critic(r) for r in asked if isinstance(r, Critic)})
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


class ModelSpec:
    """Base of the registered model specs: ``build(info, roles)`` from the spec's :meth:`networks`."""

    def networks(self, info: DataInfo) -> Networks:  # pragma: no cover - every spec defines it
        raise NotImplementedError

    def build(self, info: DataInfo, roles: Optional[Iterable[Role]] = None) -> Programs:
        """The Pyro programs for data ``info``: the ``model`` and the ``roles`` asked for, names or
        :class:`~unigen.roles.Critic` requests (runs pass :func:`unigen.roles.needed_roles` of the
        strategy; ``None`` builds every role these settings offer)."""
        check_choices(self, "model.", f"model {self.registry_name!r}: ")  # model.likelihood=foo, from Python too
        return self.networks(info).build(info, roles)
