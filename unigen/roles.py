r"""Which roles a run builds: the strategy asks, the model spec builds (Hu et al., 2018: one model, many
inference networks).

A model spec builds only the roles it is asked for: ``spec.build(info, roles=needed_roles(strategy))``.
A role is asked for by name (``"guide"``, ``"discriminator"``, ``"latent_discriminator"``,
``"code_posterior"``, ``"classifier"``: the spec's own factories) or, for a network that no spec names,
by a :class:`Critic` request, which every spec builds from its feature networks. So an ALI/BiGAN-style
strategy asks for ``Critic("joint_discriminator", on=("x", "z"))`` in its own file and needs no change to
:mod:`unigen.models` or to the trainer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from unigen.errors import UserError

#: the inputs a generic critic may read: the data, the model's latent ``"z"``
CRITIC_INPUTS = ("x", "z")


@dataclass(frozen=True)
class Critic:
    r"""A request for a critic role that no spec names: ``critic(*inputs, c=None) -> logits (batch,)``.

    :param name: the role's name in :class:`~unigen.programs.Programs` (e.g. ``"joint_discriminator"``).
    :param on: its inputs in call order, each one of :data:`CRITIC_INPUTS`: ``"x"`` (a data batch, read by
        the spec's discriminator features) and ``"z"`` (the model's latent ``"z"``, ``(batch, z_dim)``).
        ``Critic("joint_discriminator", on=("x", "z"))`` is ALI's :math:`D(x, z)` (Dumoulin et al., 2017;
        Donahue et al., 2017).

    The spec builds each input's feature network (with the one-hot label when conditional), concatenates
    the features and puts an MLP head on them (:class:`unigen.models.nets.JointCritic`).
    """

    name: str
    on: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = [i for i in self.on if i not in CRITIC_INPUTS]
        if not self.on or bad:
            raise UserError(f"critic role {self.name!r}: inputs {self.on!r} must be a non-empty tuple of "
                            f"{', '.join(CRITIC_INPUTS)}")


#: a role as a strategy asks for it: a name the spec knows, or a :class:`Critic` request
Role = Union[str, Critic]


def role_name(role: Role) -> str:
    return role.name if isinstance(role, Critic) else role


def needed_roles(strategy) -> tuple[Role, ...]:
    """The roles to build for ``strategy``, in the order it names them: its required roles
    (``needs.role_names``, :class:`unigen.needs.Needs`), then every role its players own (``players``: e.g. InfoGAN's ``code_posterior``, the
    classifier of an ``aavae`` over ``svae``), each as the strategy's own :class:`Critic` request when it
    declares one in ``networks``, else by name.

    Required roles that the spec cannot build are refused by ``strategy.check``; a player's role that it
    cannot build (a ``code_posterior`` without codes) is simply absent, and the strategy falls back (InfoGAN
    reads the guide). This is the one place that reads a strategy's roles.
    """
    requests = {n.name: n for n in getattr(strategy, "networks", ())}  # extra networks, declared by the strategy
    names = [*strategy.needs.role_names, *(r for roles in strategy.players.values() for r in roles), *requests]
    return tuple(requests.get(n, n) for n in dict.fromkeys(names))
