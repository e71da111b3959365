r"""Data sets held as tensors, and the minibatch sampler that training steps draw from.

A :class:`TensorData` is the empirical distribution :math:`p_{data} = \frac1N \sum_n \delta_{x_n}`:
:meth:`TensorData.sample` draws a minibatch of i.i.d. indices :math:`n_b \sim \mathrm{Uniform}\{0..N-1\}`
(sampling *with* replacement, the estimator that stochastic-gradient training assumes). The sampler is
capture-safe — one ``torch.randint`` on the data's device and one gather, no ``.item()``, no host-to-device
copies, no branches on data — so it can sit inside a CUDA-graph-captured training step.

All checks on the data (finite values, non-empty, values inside the declared support, labels in range)
happen once, at construction, and fail with a :class:`~unigen.errors.UserError` that names the data set.

**Unlabelled examples.** Labels lie in :math:`\{-1\} \cup \{0, \dots, K-1\}`: ``-1``
(:data:`UNLABELLED`) marks an example whose label is hidden, as in semi-supervised data (e.g.
``mnist`` with ``label_fraction < 1``). Only a strategy written for it (``svae``) reads ``-1``; every
other consumer treats ``c`` as given.

**Two domains.** A data set may mark each example's ``domain``, 0 or 1 (a source and a target domain, or
CycleGAN's two unpaired image sets). Its batches are then balanced and interleaved: even rows are drawn
uniformly from domain 0, odd rows from domain 1, so that every batch (and every data-parallel rank's
contiguous slice of it) holds as many examples of each, at fixed positions
(:func:`unigen.programs.split_domains`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.programs import Batch, DataInfo

#: the label of an unlabelled example (semi-supervised data); every other label lies in ``0..K-1``
UNLABELLED = -1

#: closed interval of each support name; ``None`` means unbounded
SUPPORTS: dict[str, tuple[float, float] | None] = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0), "real": None}

#: the largest finite float32, :math:`\approx 3.4 \cdot 10^{38}`: data are held as float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes of memory this process can still allocate: the kernel's ``MemAvailable`` (else the free pages),
    lowered to what a cgroup limit leaves; ``None`` where neither can be read."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit, used, stat in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current",  # cgroup v2, then v1
                               "/sys/fs/cgroup/memory.stat"),
                              ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                               "/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.stat")):
        try:
            with open(limit) as f, open(used) as g:
                cap, current = int(f.read().strip()), int(g.read().strip())
        except (OSError, ValueError):  # no such cgroup file, or "max": no limit
            continue
        avail = min(avail, max(0, cap - current + _reclaimable(stat)))  # page cache counts as used there
        break
    return avail


def _reclaimable(stat: str) -> int:
    """The cgroup's inactive file cache (``inactive_file`` of its ``memory.stat``): counted in its usage, but
    reclaimed before an allocation fails; 0 where unreadable."""
    try:
        with open(stat) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key in ("inactive_file", "total_inactive_file"):
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _size(nbytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def check_memory(nbytes: int | float, what: str, fix: str) -> None:
    """Refuse, before allocating it, a data set of about ``nbytes`` that the memory available cannot hold.

    :param what: the data set, as the message names it (``"data set ring (train)"``).
    :param fix: how to make it smaller, naming the setting to lower (``"lower data.n"``).
    """
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise UserError(f"{what} needs about {_size(nbytes)} of memory, more than the {_size(avail)} available; "
                        f"{fix}")


def check_float32_range(x, name: str, fix: str = "rescale the data (e.g. standardise each feature)") -> None:
    """Refuse finite values that float32, the dtype data are held in, cannot represent (they would become
    infinite): ``x`` an array or tensor of any dtype, checked only where its dtype reaches beyond float32."""
    if isinstance(x, Tensor):
        if not x.is_floating_point() or torch.finfo(x.dtype).max <= FLOAT32_MAX or x.numel() == 0:
            return
        big = x.abs()
        big = big[torch.isfinite(big)]
        top = float(big.max()) if big.numel() else 0.0
    else:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating) or np.finfo(x.dtype).max <= FLOAT32_MAX or x.size == 0:
            return
        big = np.abs(x)
        big = big[np.isfinite(big)]
        top = float(big.max()) if big.size else 0.0
    if top > FLOAT32_MAX:
        raise UserError(f"data set {name} has values up to {top:.4g} in magnitude, which overflow float32 (largest "
                        f"{FLOAT32_MAX:.4g}), the precision data are held in; {fix}")


#: bump a recipe's version when the network or the training recipe changes, so that stale caches are not read
@dataclass(frozen=True)
class FeatureNetwork:
    """A data set's feature network: the name its metrics carry and how :func:`unigen.metrics.classifier.train_classifier` fits it.

    :param label: the network in metric names: ``"IS (label)"``, ``"FID (label features)"``.
    :param version: bump when the recipe changes, so that stale caches are not read.
    :param augment: the random affine augmentation of :func:`unigen.metrics.classifier.train_classifier`.
    """

    label: str
    version: str
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    augment: bool = True


class TensorData:
    """A data set ``x`` of shape ``(N, *info.shape)`` (float32) with optional labels ``c`` ``(N,)`` (long).

    :param x: the examples; converted to float32.
    :param c: class labels in ``0..K-1``, ``-1`` for unlabelled examples, or ``None``; converted to long.
    :param info: event shape, number of classes and support of one example.
    :param name: how error messages name the data set, e.g. ``"mnist (train)"``.
    :raises UserError: if the data are empty, non-finite, outside ``info.support``, or inconsistent
        with ``info`` or with ``c``.
    """

    def __init__(self, x: Tensor, c: Tensor | None, info: DataInfo, name: str = "data",
                 domain: Tensor | None = None):
        self.name = name
        self.info = info
        x = torch.as_tensor(x)
        check_float32_range(x, name)  # before the cast, which would turn them into infinities
        self.x = x.to(torch.float32)
        self.c = None if c is None else torch.as_tensor(c).to(torch.long)
        self.domain = None if domain is None else torch.as_tensor(domain, device=self.x.device).to(torch.long)
        self._validate()
        if self.domain is not None:
            self._validate_domain()
        self._index_domains()

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def trusted(cls, x: Tensor, c: Tensor | None, info: DataInfo, name: str,
                 domain: Tensor | None = None) -> TensorData:
        """Build without re-validating (for views of data that were already checked)."""
        obj = cls.__new__(cls)
        obj.x, obj.c, obj.info, obj.name, obj.domain = x, c, info, name, domain
        obj._index_domains()
        return obj

    def _index_domains(self) -> None:
        """The example indices of each domain, on the data's device (the balanced sampler's tables)."""
        self.by_domain, self._patterns = None, {}
        if self.domain is not None:
            self.by_domain = tuple(torch.nonzero(self.domain == d).flatten() for d in (0, 1))

    def _validate(self) -> None:
        x, c, info, name = self.x, self.c, self.info, self.name
        if x.dim() == 0 or x.shape[0] == 0:
            raise UserError(f"data set {name} is empty; check its files or settings (e.g. data.fraction)")
        if tuple(x.shape[1:]) != tuple(info.shape):
            raise UserError(f"data set {name}: examples have shape {tuple(x.shape[1:])} but its info declares "
                            f"{tuple(info.shape)}")
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).reshape(x.shape[0], -1).any(1).sum())
            raise UserError(f"data set {name} has NaN or infinite values in {bad} examples; clean the data")
        if info.support not in SUPPORTS:
            raise UserError(f"data set {name}: unknown support {info.support!r}; use one of "
                            f"{', '.join(SUPPORTS)}")
        bounds = SUPPORTS[info.support]
        if bounds is not None:
            lo, hi = float(x.min()), float(x.max())
            if lo < bounds[0] or hi > bounds[1]:
                raise UserError(f"data set {name} has values in [{lo:.4g}, {hi:.4g}], outside its declared "
                                f"{info.support!r} support [{bounds[0]:g}, {bounds[1]:g}]; rescale the data "
                                f"or declare the right support")
        if c is not None:
            if c.shape != (x.shape[0],):
                raise UserError(f"data set {name}: labels have shape {tuple(c.shape)}, expected ({x.shape[0]},)")
            k = info.num_classes
            lo, hi = int(c.min()), int(c.max())
            if lo < UNLABELLED or (k is not None and hi >= k):
                upper = f"{k - 1}" if k is not None else "K-1"
                raise UserError(f"data set {name}: labels must lie in 0..{upper}, or be {UNLABELLED} for an "
                                f"unlabelled example; found {lo}..{hi}")

    # ---------------------------------------------------------------------------------- queries
    def _validate_domain(self) -> None:
        d, name = self.domain, self.name
        if d.shape != (self.x.shape[0],):
            raise UserError(f"data set {name}: domains have shape {tuple(d.shape)}, expected ({self.x.shape[0]},)")
        counts = [int((d == k).sum()) for k in (0, 1)]
        if counts[0] + counts[1] != d.shape[0] or min(counts) == 0:
            raise UserError(f"data set {name}: domains must be 0 or 1 with examples of both; found "
                            f"{counts[0]} of domain 0 and {counts[1]} of domain 1 in {d.shape[0]}")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_labelled(self) -> int:
        """How many examples carry a label (not :data:`UNLABELLED`); 0 without labels. Reads the host."""
        return 0 if self.c is None else int((self.c != UNLABELLED).sum())

    def __repr__(self) -> str:
        labels = "" if self.c is None else f", {self.info.num_classes} classes"
        if self.c is not None and self.num_labelled < len(self):
            labels += f", {self.num_labelled} labelled"
        return (f"TensorData({self.name}: {len(self)} x {tuple(self.info.shape)}, support "
                f"{self.info.support!r}{labels}, device {self.x.device})")

    @property
    def device(self) -> torch.device:
        return self.x.device

    def check_batch_size(self, batch_size: int) -> None:
        """Fail early, with the fix, when a minibatch cannot be drawn from this data set."""
        if batch_size < 1:
            raise UserError(f"batch size {batch_size} must be at least 1; raise train.batch_size")
        if batch_size > len(self):
            raise UserError(f"batch size {batch_size} is larger than the data set ({len(self)} examples); "
                            f"lower train.batch_size")
        if self.domain is not None and batch_size % 2:
            raise UserError(f"batch size {batch_size} is odd, but data set {self.name} has two domains and "
                            f"every batch holds as many examples of each; use an even train.batch_size")

    # ------------------------------------------------------------------------------------ views
    def to(self, device: torch.device | str) -> TensorData:
        """The same data on ``device`` (a copy only if the device differs)."""
        c = None if self.c is None else self.c.to(device)
        domain = None if self.domain is None else self.domain.to(device)
        return TensorData.trusted(self.x.to(device), c, self.info, self.name, domain)

    def subset(self, indices: Tensor | Sequence[int]) -> TensorData:
        """The examples at ``indices`` (a long tensor, a boolean mask or a sequence of ints)."""
        idx = torch.as_tensor(indices, device=self.x.device)
        if idx.dtype != torch.bool:
            idx = idx.to(torch.long)
        x = self.x[idx]
        if x.shape[0] == 0:
            raise UserError(f"subset of data set {self.name} is empty; select at least one example")
        c = None if self.c is None else self.c[idx]
        domain = None if self.domain is None else self.domain[idx]
        out = TensorData.trusted(x, c, self.info, self.name, domain)
        if domain is not None:
            out._validate_domain()  # a subset must still hold both domains
        return out

    # ---------------------------------------------------------------------------------- sampling
    def indices(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """``batch_size`` i.i.d. uniform example indices (with replacement), drawn on the data's device.

        Two-domain data: even positions uniform over domain 0, odd positions over domain 1.
        """
        if self.by_domain is None:
            return torch.randint(self.x.shape[0], (batch_size,), device=self.x.device, generator=generator)
        idx = torch.empty(batch_size, dtype=torch.long, device=self.x.device)
        for d, pool in enumerate(self.by_domain):
            n = len(range(d, batch_size, 2))
            idx[d::2] = pool[torch.randint(pool.shape[0], (n,), device=self.x.device, generator=generator)]
        return idx

    def domain_pattern(self, batch_size: int) -> Tensor | None:
        """The ``domain`` of every batch of ``batch_size`` (0, 1, 0, 1, ...), or ``None`` for one-domain data."""
        if self.domain is None:
            return None
        if batch_size not in self._patterns:  # made once per size: not on the step's path
            self._patterns[batch_size] = torch.arange(batch_size, device=self.x.device) % 2
        return self._patterns[batch_size]

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """A minibatch of ``batch_size`` examples drawn i.i.d. (with replacement) from the data set.

        Capture-safe: the indices are drawn on the data's device and gathered there.
        """
        idx = self.indices(batch_size, generator)
        x = self.x.index_select(0, idx)
        c = None if self.c is None else self.c.index_select(0, idx)
        return Batch(x, c, self.domain_pattern(batch_size))
