"""The running means of one logging window: summed on the device, read once when the window closes.

A checkpoint keeps the open window (:meth:`Window.state_dict`), so a run resumed mid-window logs the
same means as one that was never interrupted.
"""
from __future__ import annotations

import torch
from torch import Tensor


class Window:
    def __init__(self):
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, Tensor]) -> None:
        """Add one step's values (device tensors; no host sync): one fused ``_foreach_add_`` over the sums
        (the window owns them: each is a copy of its first value), the same additions as one by one."""
        same = [k for k in values if k in self.sums and self.sums[k].shape == values[k].shape
                and self.sums[k].dtype == values[k].dtype]
        if same:
            torch._foreach_add_([self.sums[k] for k in same], [values[k] for k in same])
        for k, v in values.items():
            if k not in same:
                self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.count += 1

    def close(self) -> dict[str, float]:
        """The means since the last close (one host sync), and a new, empty window."""
        means = {k: v.item() / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def state_dict(self) -> dict:
        # copies: the sums are added to in place, and a state dict must not change after it was taken
        return {"sums": {k: v.detach().to("cpu", copy=True) for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.sums = {k: v.to(device, copy=True) for k, v in state["sums"].items()}
        self.count = int(state["count"])
