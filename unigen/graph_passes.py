r"""Rewrites of a traced update's FX graph before inductor compiles it (:mod:`unigen.traced`): fused Adam as
element-wise operations with its step-dependent scalars on the host (:class:`HostAdam`) or in the graph,
the watch's ``_foreach_norm`` as fusible sums, scalar constants moved to the graph's device, the
profiler's ranges dropped, and inputs the graph never touches removed."""
from __future__ import annotations

import operator

import torch
from torch import Tensor

from unigen.errors import UserError


class HostAdam:
    r"""One fused Adam update in a graph, rewritten for inductor as plain operations (which it fuses into the
    generated loops) with its step-dependent scalars computed here, on the host, before each replay:
    :math:`\alpha_t = \mathrm{lr} / (1 - \beta_1^t)` and :math:`\sqrt{1 - \beta_2^t}` (in the graph they
    would be ``pow`` calls in every inner loop). ``t`` is read from the optimiser's own step tensor before each
    replay (the graph increments it), so it stays right when several graphs step the same optimiser (a player
    in two phases, a retrace for new shapes); on CUDA that read is a host sync per update."""

    def __init__(self, lr: Tensor, beta1: float, beta2: float, steps: list[Tensor], device: torch.device):
        self.lr, self.beta1, self.beta2, self.step = lr, beta1, beta2, steps[0]
        self.scalars = torch.zeros(2, dtype=torch.float32, device=device)  # filled before each replay
        # on a CPU, written through a NumPy view of the same memory (no tensor made and copied per replay)
        self._view = self.scalars.numpy() if device.type == "cpu" else None

    def fill(self) -> None:
        t = float(self.step) + 1  # this update's count: the step tensor holds the updates done so far
        a, b = float(self.lr) / (1 - self.beta1 ** t), (1 - self.beta2 ** t) ** 0.5
        if self._view is not None:  # rounded to float32 as torch.tensor([a, b]) rounds them
            self._view[0], self._view[1] = a, b
        else:
            self.scalars.copy_(torch.tensor([a, b]), non_blocking=True)

def drop_unused_inputs(gm: torch.fx.GraphModule) -> list[bool]:
    """Remove the placeholders that no node reads or writes (an in-place update is a node that uses its input); return,
    for each input in order, whether it was kept (the caller passes only those)."""
    kept = []
    for node in [n for n in gm.graph.nodes if n.op == "placeholder"]:
        kept.append(bool(node.users))
        if not node.users:
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return kept


def norms_as_sums(gm: torch.fx.GraphModule) -> None:
    """Rewrite ``_foreach_norm`` (a kernel per tensor that inductor calls as is) as square roots of sums of
    squares, which inductor generates and fuses. Only the watch reads them (finite or not), and the two forms
    overflow alike."""
    aten = torch.ops.aten
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not aten._foreach_norm.Scalar:
            continue
        if len(node.args) > 1 and node.args[1] != 2 or any(u.target is not operator.getitem for u in node.users):
            continue
        with gm.graph.inserting_before(node):
            norms = [gm.graph.call_function(aten.sqrt.default, (gm.graph.call_function(
                aten.sum.default, (gm.graph.call_function(aten.mul.Tensor, (t, t)),)),)) for t in node.args[0]]
        for user in list(node.users):
            user.replace_all_uses_with(norms[user.args[1]])
            gm.graph.erase_node(user)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()

def scalar_constants_to(gm: torch.fx.GraphModule, device: torch.device) -> None:
    """Move the 0-dimensional CPU tensors that tracing baked into ``gm`` as constants (``get_attr``: a literal
    that Pyro or a distribution wrapped in ``torch.tensor``) to ``device``, where the graph's state lives. Eager
    kernels read such a tensor as a number; inductor would copy it to the GPU at every call, and a copy from
    pageable host memory cannot be captured in a CUDA graph. Nothing to do for a CPU graph."""
    if device.type == "cpu":
        return
    for node in gm.graph.nodes:
        if node.op != "get_attr" or "." in node.target:
            continue
        value = getattr(gm, node.target)
        if isinstance(value, Tensor) and value.device.type == "cpu" and value.dim() == 0:
            setattr(gm, node.target, value.to(device))

def drop_profiler_marks(gm: torch.fx.GraphModule) -> None:
    """Remove the ``record_function`` ranges that ``Optimizer.step`` opens (host objects, not tensor work)."""
    prof = torch.ops.profiler
    for node in reversed(list(gm.graph.nodes)):
        if node.op == "call_function" and node.target in (prof._record_function_exit._RecordFunction,
                                                          prof._record_function_exit.default):
            gm.graph.erase_node(node)
    for node in reversed(list(gm.graph.nodes)):
        if node.op == "call_function" and node.target is prof._record_function_enter_new.default and not node.users:
            gm.graph.erase_node(node)
    gm.recompile()

def graph_adam_scalars(g_: torch.fx.Graph, kw: dict, step: torch.fx.Node, device: torch.device):
    r"""Nodes computing :math:`\mathrm{lr}/(1-\beta_1^t)` and :math:`\sqrt{1-\beta_2^t}` inside the graph from
    the (already incremented) step tensor and the rate, in float64: no host read, so the graph can be captured
    in a CUDA graph and replayed with the rate that a schedule wrote into its tensor."""
    aten = torch.ops.aten
    t = g_.call_function(aten._to_copy.default, (step,), {"dtype": torch.float64})
    lr = kw["lr"] if isinstance(kw["lr"], torch.fx.Node) else float(kw["lr"])
    bias1 = g_.call_function(aten.rsub.Scalar, (g_.call_function(aten.pow.Scalar, (kw["beta1"], t)), 1.0))
    step_size = g_.call_function(aten.mul.Tensor, (g_.call_function(aten.reciprocal.default, (bias1,)), lr))
    bc2 = g_.call_function(aten.sqrt.default, (g_.call_function(aten.rsub.Scalar, (g_.call_function(
        aten.pow.Scalar, (kw["beta2"], t)), 1.0)),))
    as_float = {"dtype": torch.float32, "device": device}
    return (g_.call_function(aten._to_copy.default, (step_size,), as_float),
            g_.call_function(aten._to_copy.default, (bc2,), as_float))

def decompose_adam(gm: torch.fx.GraphModule, inputs: list[Tensor], scalars: str = "auto") -> list[HostAdam]:
    """Replace every ``_fused_adam_`` node of ``gm`` by element-wise operations. Their step-dependent scalars
    are computed on the host (``scalars="host"``: new trailing inputs, one ``(2,)`` tensor per node, whose
    keepers are returned in input order) or in the graph (``"graph"``: :func:`graph_adam_scalars`);
    ``"auto"``: on the host for a CPU, in the graph on CUDA (where a host read would be a sync, and would
    stop the graph's capture)."""
    aten = torch.ops.aten
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    value = {n: t for n, t in zip(placeholders, inputs)}
    keepers, last = [], placeholders[-1]
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (aten._fused_adam_.tensor_lr, aten._fused_adam_.default):
            continue
        params, grads, ms, vs, maxes, steps = node.args[:6]
        kw = node.kwargs
        if maxes or kw["amsgrad"] or kw["maximize"] or kw.get("grad_scale") is not None:
            raise UserError("train.compile=trace supports Adam without amsgrad, maximize or gradient scaling; "
                            "use train.compile=none")
        device = value[params[0]].device
        on_host = scalars == "host" or scalars == "auto" and device.type == "cpu"
        g_ = gm.graph
        if on_host:
            lr = value[kw["lr"]] if isinstance(kw["lr"], torch.fx.Node) else torch.tensor(float(kw["lr"]))
            keeper = HostAdam(lr, kw["beta1"], kw["beta2"], [value[s] for s in steps], device)
            with gm.graph.inserting_after(last):
                last = gm.graph.placeholder(f"host_adam_{len(keepers)}")
            keepers.append(keeper)
        with g_.inserting_before(node):
            if on_host:
                step_size = g_.call_function(aten.select.int, (last, 0, 0))
                bc2 = g_.call_function(aten.select.int, (last, 0, 1))
            else:
                step_size, bc2 = graph_adam_scalars(g_, kw, steps[0], device)
            for p, g, m, v in zip(params, grads, ms, vs):
                if kw["weight_decay"]:
                    g = g_.call_function(aten.add.Tensor, (g, p), {"alpha": kw["weight_decay"]})
                g_.call_function(aten.lerp_.Scalar, (m, g, 1 - kw["beta1"]))
                g_.call_function(aten.mul_.Tensor, (v, kw["beta2"]))
                g_.call_function(aten.addcmul_.default, (v, g, g), {"value": 1 - kw["beta2"]})
                denom = g_.call_function(aten.add.Tensor, (g_.call_function(
                    aten.div.Tensor, (g_.call_function(aten.sqrt.default, (v,)), bc2)), kw["eps"]))
                step = g_.call_function(aten.div.Tensor, (g_.call_function(aten.mul.Tensor, (m, step_size)), denom))
                g_.call_function(aten.sub_.Tensor, (p, step))
        g_.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return keepers
