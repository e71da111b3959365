r"""Minibatches of a data set that stays in host memory, streamed to the training device.

A small data set lives on the device and :meth:`TensorData.sample` draws batches there, inside the
step (and inside a captured CUDA graph). A data set too large for that stays on the host. Before each
step, :class:`HostBatches` draws the step's batch indices on the host, gathers the examples into
pinned staging buffers and copies them to fixed device buffers without blocking. The step then reads
those buffers in order. The copies are queued on the training stream ahead of the step's kernels, so
they overlap the host's work on the next step.

The indices come from :meth:`TensorData.indices`, the sampler of :meth:`TensorData.sample`, with the
trainer's batch-index generator (here on the host). On a CPU device a host-streamed run therefore equals a
device-resident run bit for bit (tested). A staging buffer is rewritten only after its previous copy
has finished (an event per step).
"""
from __future__ import annotations

import torch

from unigen.data.base import TensorData
from unigen.programs import Batch


class HostBatches:
    """``slots`` batches of ``batch_size`` per step, from host data ``data`` to ``device``.

    :param data: the data set, in host memory.
    :param device: the training device.
    :param batch_size: examples per batch.
    :param slots: batches one step draws (the sum of its phases' repeats).
    :param generator: the batch-index generator (on the host).
    """

    def __init__(self, data: TensorData, device: torch.device, batch_size: int, slots: int,
                 generator: torch.Generator):
        self.data, self.slots, self.generator = data, slots, generator
        pin = device.type == "cuda"
        shape = (slots, batch_size) + tuple(data.x.shape[1:])
        self.host_x = torch.empty(shape, dtype=data.x.dtype, pin_memory=pin)
        self.device_x = torch.empty(shape, dtype=data.x.dtype, device=device)
        self.host_c = self.device_c = None
        if data.c is not None:
            self.host_c = torch.empty((slots, batch_size), dtype=data.c.dtype, pin_memory=pin)
            self.device_c = torch.empty((slots, batch_size), dtype=data.c.dtype, device=device)
        pattern = data.domain_pattern(batch_size)  # two-domain data: the fixed interleaving, on the device
        self.domain = None if pattern is None else pattern.to(device)
        self.copied = torch.cuda.Event() if pin else None
        self.cursor = 0

    @classmethod
    def when_needed(cls, data: TensorData, device: torch.device, batch_size: int, slots: int,
                    generator: torch.Generator, stream: bool | None = None) -> "HostBatches | None":
        """Staged batches when the data are streamed (``stream``; by default when they are not on ``device``),
        else ``None``: the trainer samples them on the device."""
        if not (not same_device(data.x.device, device) if stream is None else stream):
            return None
        return cls(data, device, batch_size, slots, generator)

    def stage(self) -> None:
        """Draw and copy the next step's batches (outside any captured graph)."""
        if self.copied is not None:
            self.copied.synchronize()  # the previous step's copies have left the staging buffers
        for i in range(self.slots):
            idx = self.data.indices(self.host_x.shape[1], self.generator)  # the sampler of TensorData.sample
            torch.index_select(self.data.x, 0, idx, out=self.host_x[i])
            if self.data.c is not None:
                torch.index_select(self.data.c, 0, idx, out=self.host_c[i])
        self.device_x.copy_(self.host_x, non_blocking=True)
        if self.device_c is not None:
            self.device_c.copy_(self.host_c, non_blocking=True)
        if self.copied is not None:  # on the training device's stream (the current device may be another GPU)
            self.copied.record(torch.cuda.current_stream(self.device_x.device))
        self.cursor = 0

    def next(self) -> Batch:
        """The next staged batch (device tensors at fixed addresses)."""
        i = self.cursor % self.slots
        self.cursor += 1
        return Batch(self.device_x[i], None if self.device_c is None else self.device_c[i], self.domain)


def fits_on_device(data: TensorData, device: torch.device, fraction: float = 0.25) -> bool:
    """Whether ``data`` takes at most ``fraction`` of ``device``'s free memory (always true off CUDA)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    size = data.x.numel() * data.x.element_size() + (0 if data.c is None else data.c.numel() * 8)
    return size <= fraction * free


def same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` (the current device) are the same device here."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)
