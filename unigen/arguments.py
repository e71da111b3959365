"""What the Python API is handed: the trainer's arguments checked (and, where unambiguous, taken as given),
each mistake refused in one line that names the fix."""
from __future__ import annotations

import numbers
from typing import Callable

from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.programs import Programs
from unigen.settings import check_settings
from unigen.strategy import Strategy


def integer(value) -> bool:
    """An integer (NumPy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_arguments(programs, strategy, data, batch_size, settings: Callable[[str], OptimConfig] | None = None) -> None:
    """Refuse, in one line each, what the Python API is most often handed by mistake: a strategy class rather
    than an instance, a bare tensor rather than :class:`TensorData`, programs not wrapped in :class:`Programs`;
    then the strategy's settings, the batch size against the data, and each player's optimiser ``settings``
    (errors from Python name the class's field)."""
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        raise UserError(f"strategy is the class {strategy.__name__}; pass an instance, {strategy.__name__}()")
    if not isinstance(strategy, Strategy):
        raise UserError(f"strategy is a {type(strategy).__name__}; pass a strategy instance, e.g. ELBO() "
                        f"(`unigen list` names them)")
    if not isinstance(programs, Programs):
        raise UserError(f"programs is a {type(programs).__name__}; wrap the roles: Programs(model=..., guide=..., "
                        f"discriminator=...)")
    if not isinstance(data, TensorData):
        raise UserError(f"data is a {type(data).__name__}; wrap it: TensorData(x, c, DataInfo(shape=x.shape[1:])) "
                        f"(unigen.data.base, unigen.programs), or load a data set, e.g. Ring().load()")
    if not integer(batch_size):
        raise UserError(f"batch_size={batch_size!r} must be an integer")
    check_settings(strategy, type(strategy).__name__)
    data.check_batch_size(batch_size)
    for player in strategy.players if settings is not None else ():
        check_settings(settings(player), f"OptimConfig (player {player!r})")


def check_counts(where: str, **counts: tuple[object, int]) -> None:
    """Refuse, in one line, a count that is not an integer at least its least value: ``name=(value, least)``."""
    for name, (value, least) in counts.items():
        if not integer(value) or value < least:
            raise UserError(f"{where}({name}={value!r}): {name} must be an integer >= {least}")
