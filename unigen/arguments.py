"""What the Python API is handed: the trainer's arguments checked (and, where unambiguous, taken as given),
each mistake refused in one line that names the fix."""
from __future__ import annotations

import numbers
from typing import Callable

from unigen.config import SCHEDULES, OptimConfig
from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.programs import Programs
from unigen.settings import check_settings
from unigen.strategy import Strategy


def integer(value) -> bool:
    """An integer (NumPy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_arguments(programs, strategy, data, batch_size,
                    settings: Callable[[str], OptimConfig] | None = None) -> TensorData:
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
    data = as_tensor_data(data)  # a tensor, a pair (x, c), an array, a Dataset: taken as given
    if not integer(batch_size):
        raise UserError(f"batch_size={batch_size!r} must be an integer")
    check_settings(strategy, type(strategy).__name__)
    data.check_batch_size(batch_size)
    for player in strategy.players if settings is not None else ():
        check_settings(settings(player), f"OptimConfig (player {player!r})")
    return data


def check_counts(where: str, **counts: tuple[object, int]) -> None:
    """Refuse, in one line, a count that is not an integer at least its least value: ``name=(value, least)``."""
    for name, (value, least) in counts.items():
        if not integer(value) or value < least:
            raise UserError(f"{where}({name}={value!r}): {name} must be an integer >= {least}")


# ----------------------------------------------------------------------------- what Pyro users pass
#: torch optimiser classes unigen builds, by their name in OptimConfig
_TORCH_OPTIMISERS = {"Adam": "adam", "RMSprop": "rmsprop", "SGD": "sgd"}
#: keyword arguments of those classes that OptimConfig holds
_OPTIM_KEYS = ("lr", "betas", "weight_decay", "momentum", "alpha")


def _optim_config(name: str, kwargs: dict, what: str) -> OptimConfig:
    """An :class:`OptimConfig` for torch optimiser class ``name`` with ``kwargs`` (refused in one line otherwise)."""
    if name not in _TORCH_OPTIMISERS:
        raise UserError(f"optim={what}: unigen builds Adam, RMSprop and SGD (fused where torch allows); pass one of "
                        f"those, e.g. pyro.optim.Adam({{'lr': 1e-3}}) or OptimConfig(name='adam', lr=1e-3)")
    unknown = sorted(set(kwargs) - set(_OPTIM_KEYS))
    if unknown:
        raise UserError(f"optim={what}: unigen's optimisers take {', '.join(_OPTIM_KEYS)}, not {', '.join(unknown)}; "
                        f"drop them or set them on an OptimConfig")
    values = {k: (list(v) if k == "betas" else float(v)) for k, v in kwargs.items()}
    if name == "Adam" and "betas" not in values:  # torch's own default, not the GAN betas of OptimConfig
        values["betas"] = [0.9, 0.999]
    return OptimConfig(name=_TORCH_OPTIMISERS[name], **({"lr": 1e-3} if "lr" not in values and name != "SGD" else {}),
                       **values)


def as_optim_settings(optim) -> Callable[[str], OptimConfig]:
    """``player -> OptimConfig`` from what a Pyro or PyTorch user passes as ``optim``: an :class:`OptimConfig`, a
    ``pyro.optim`` optimiser (``pyro.optim.Adam({"lr": 1e-3})``), a ``torch.optim`` class (``torch.optim.Adam``, at
    torch's default rate 1e-3) or a ``functools.partial`` of one (with torch's defaults where they are not given:
    Adam's betas (0.9, 0.999), not :class:`OptimConfig`'s GAN betas (0.5, 0.999)), a dict of any of these keyed by player name, or
    a function ``player -> OptimConfig``."""
    import functools

    import torch

    if isinstance(optim, OptimConfig):
        return lambda _player: optim
    if isinstance(optim, dict):
        per = {player: as_optim_settings(o)(player) for player, o in optim.items()}
        return lambda player: per.get(player, OptimConfig())
    constructor = getattr(optim, "pt_optim_constructor", None)  # a pyro.optim.PyroOptim
    if constructor is not None:
        if getattr(optim, "pt_scheduler_constructor", None) is not None:  # a pyro.optim.PyroLRScheduler
            raise UserError(f"optim=pyro.optim.{type(optim).__name__}(...): unigen schedules rates itself; pass the "
                            f"optimiser and a schedule, e.g. OptimConfig(lr=1e-3, schedule='cosine') (schedules: "
                            f"{', '.join(SCHEDULES)})")
        if getattr(optim, "pt_clip_args", None):
            raise UserError(f"optim=pyro.optim with clip_args={optim.pt_clip_args}: unigen does not clip gradients; "
                            f"drop clip_args (the logged grad_norm/PLAYER shows the norms)")
        args = optim.pt_optim_args
        if callable(args):
            raise UserError("optim=pyro.optim with per-parameter arguments (a callable): unigen keeps one set per "
                            "player; pass a dict of arguments, or a dict of optimisers keyed by player")
        return as_optim_settings(functools.partial(constructor, **dict(args)))
    if isinstance(optim, functools.partial) and isinstance(optim.func, type):
        config = _optim_config(optim.func.__name__, dict(optim.keywords), repr(optim))
        return lambda _player: config
    if isinstance(optim, type) and issubclass(optim, torch.optim.Optimizer):
        config = _optim_config(optim.__name__, {}, optim.__name__)
        return lambda _player: config
    if callable(optim):
        return optim
    raise UserError(f"optim is a {type(optim).__name__}; pass OptimConfig(...), pyro.optim.Adam({{'lr': 1e-3}}), "
                    f"torch.optim.Adam, or a dict of them keyed by player")


#: the most bytes a map-style Dataset is materialised into (beyond: refused; wrap it as TensorData yourself)
MAX_DATASET_BYTES = 4 << 30


def as_tensor_data(data) -> TensorData:
    """:class:`TensorData` from what a user passes as ``data``: itself, a tensor or NumPy array ``x``, a pair
    ``(x, c)`` of examples and labels, or a map-style ``torch.utils.data.Dataset`` of ``x`` or ``(x, c)`` items,
    materialised (refused in one line beyond :data:`MAX_DATASET_BYTES`). The data's support is read from its
    range: within [0, 1] ``unit``, within [-1, 1] ``symmetric``, else ``real``."""
    import numpy as np
    import torch

    from unigen.programs import DataInfo

    if isinstance(data, TensorData):
        return data
    c = None
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.TensorDataset):
        if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
            raise UserError("data is an iterable Dataset; unigen samples batches by index: pass a map-style "
                            "Dataset, a tensor, or TensorData")
        first = data[0]
        item = first[0] if isinstance(first, (tuple, list)) else first
        size = len(data) * torch.as_tensor(item).numel() * 4
        if size > MAX_DATASET_BYTES:
            raise UserError(f"data is a Dataset of {len(data):,} examples, about {size / 1e9:.1f} GB as float32, over "
                            f"the {MAX_DATASET_BYTES / 1e9:.1f} GB unigen materialises; wrap a part as TensorData")
        items = [data[i] for i in range(len(data))]
        if isinstance(first, (tuple, list)):
            data = (torch.stack([torch.as_tensor(i[0]) for i in items]), torch.as_tensor([int(i[1]) for i in items]))
        else:
            data = torch.stack([torch.as_tensor(i) for i in items])
    elif isinstance(data, torch.utils.data.TensorDataset):
        data = tuple(data.tensors) if len(data.tensors) > 1 else data.tensors[0]
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data, c = data
    if not isinstance(data, (torch.Tensor, np.ndarray)):
        raise UserError(f"data is a {type(data).__name__}; pass a tensor x, a pair (x, c), a NumPy array, a map-style "
                        f"Dataset, or TensorData(x, c, DataInfo(shape=x.shape[1:]))")
    x = torch.as_tensor(data)
    if x.dim() < 2:
        raise UserError(f"data has shape {tuple(x.shape)}; pass examples along the first dimension, e.g. x of shape "
                        f"(N, D) or (N, C, H, W)")
    lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 0.0)
    support = "unit" if 0 <= lo and hi <= 1 else "symmetric" if -1 <= lo and hi <= 1 else "real"
    k = None if c is None else int(torch.as_tensor(c).max()) + 1
    return TensorData(x, None if c is None else torch.as_tensor(c), DataInfo(tuple(x.shape[1:]), k, support))
