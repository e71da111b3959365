"""Inductor called directly on a traced graph, without dynamo (:func:`compile_graph`), with unigen's settings
for a CPU graph (:data:`CPU_OPTIONS`)."""
from __future__ import annotations

import copy
import os
import sys
from typing import Callable, Sequence

import torch
from torch import Tensor

from unigen.errors import first_line


#: inductor's settings for a CPU graph (:func:`compile_graph`)
CPU_OPTIONS = {"layout_optimization": False, "cpp_wrapper": True, "fallback_random": True}


def own_options(example_inputs: list[Tensor]) -> dict:
    """unigen's inductor settings for a graph on these inputs: :data:`CPU_OPTIONS` on a CPU, inductor's defaults on
    CUDA. ``TORCHINDUCTOR_CPP_WRAPPER=0`` in the environment (inductor's own switch) turns the C++ wrapper off."""
    if not all(t.device.type == "cpu" for t in example_inputs):
        return {}
    return CPU_OPTIONS | ({"cpp_wrapper": False} if os.environ.get("TORCHINDUCTOR_CPP_WRAPPER") == "0" else {})


def compile_graph(gm: torch.fx.GraphModule, example_inputs: list[Tensor],
             options: dict | None = None) -> Callable[..., Sequence[Tensor]]:
    """Inductor over the graph, called directly (``compile_fx``, what ``torch.compile``'s inductor back-end calls),
    without dynamo. One graph, static shapes, compiled now; the result is called with the inputs in order.
    ``options`` (inductor settings) replace unigen's own, below (``benchmarks/inductor_ab.py`` compares sets).

    Without dynamo a replay skips dynamo's cache look-up and compiled-region wrapper, 0.2–0.25 ms a call under
    ``torch.profiler`` (full-size VAE, two profiles: 92–100 µs and 123–134 µs; guards were already skipped). In one
    process, 10 interleaved rounds, against ``torch.compile`` with its guards skipped after the first call: traced
    host-cost VAE 0.41 → 0.28 ms a step, host-cost ring GAN 0.84 → 0.49 ms; full-size VAE 8.0 → 7.4 and 9.0 → 8.6
    ms, ring GAN 8.8 → 8.1 and 7.9 → 7.4 ms (both orders); IWAE K=5 within the noise (20.4 / 20.6, 19.6 / 20.7).
    The inputs inductor sees are fake tensors of static shapes, as ``torch.compile(dynamic=False)`` gives it: from
    the real tensors it would make every size a symbol (dynamic-shape kernels, and the DCGAN's graph failed to
    compile). Their fake mode carries a shape environment, which inductor's on-disk FX graph cache needs (without
    one the cache is bypassed), so a second run of the same graph loads it from there.

    On a CPU the kernels are called from inductor's C++ wrapper (``cpp_wrapper``) rather than from generated
    Python: the same kernels on the same inputs (updates bit for bit equal, tested), with less host work a call.
    Same process, 10 interleaved rounds against the Python wrapper: host-cost VAE 0.26 → 0.18 ms a step, host-cost
    IWAE 0.27 → 0.20 ms, host-cost ring GAN (two graphs) 0.75 → 0.46 ms, faster in 10, 9 and 10 of 10 rounds;
    full-size VAE 7.5 → 7.1 ms; ring GAN and IWAE within the noise (5.5 / 5.4, 18.1 / 18.2 ms). It compiles
    the placeholders' recorded values, so those are set to the static fake inputs first (``make_fx`` leaves values
    of fake modes of its own, which the C++ wrapper's compile refuses to mix). Should the C++ wrapper fail to compile
    a graph (all 25 registered strategies' compiled with it, checked once on the contract toys), the kernels are
    called from Python, with one line on stderr; ``TORCHINDUCTOR_CPP_WRAPPER=0`` turns it off.

    On a CPU, the graph's random draws are torch's own kernels on torch's generator, in the order the update makes
    them (``fallback_random``; inductor then chains its random operations in program order), so a compiled update
    draws the very numbers eager draws. By default inductor would generate ``rand``/``randn``/``randint`` (and
    Bernoulli draws, which it lowers to ``rand``) itself from seeds it takes from torch's generator, and it may
    reorder independent draws that it leaves to torch (``normal_``, which Pyro's ``Normal`` uses): the contract
    toys' ns_gan update drew its likelihood noise before its latents, the same numbers given to other tensors. The
    benchmark's cases draw a few thousand numbers an update (``normal_``; WGAN-GP's ``rand``), too few to time. On
    CUDA inductor's defaults stand (its own Philox draws, fused into its kernels).

    On a CPU, inductor's layout optimisation (the convolutions' tensors made channels-last) is off: without it
    the traced DCGAN and WGAN-GP steps ran 9% and 13% faster (medians of 10 interleaved rounds each, faster in
    19 of the 20, one a tie). Its generated element-wise code (the norms, leaky ReLUs, the penalty and Adam)
    took 314–343 ms of a WGAN-GP step with it (two profiles) and 101–127 ms without (four).
    """
    from torch._inductor.compile_fx import compile_fx
    from torch._subclasses import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    own = options is None
    options = own_options(example_inputs) if own else options
    fake = FakeTensorMode(shape_env=ShapeEnv())
    static = [fake.from_tensor(t, static_shapes=True) for t in example_inputs]  # as dynamo's dynamic=False
    with torch.no_grad():
        if not options.get("cpp_wrapper"):
            return compile_fx(gm, static, config_patches=options)
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        for node, value in zip(placeholders, static, strict=True):
            node.meta["val"] = value  # what the C++ wrapper compiles from: one fake mode, static shapes
        # compile_fx may mutate the module it is given (its docstring): a fallback compiles a spare copy
        spare = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph)) if own else None
        try:
            return compile_fx(gm, static, config_patches=options)
        except Exception as e:  # noqa: BLE001  (an operator the C++ wrapper cannot call, say: Python calls it)
            if spare is None:
                raise
            try:
                run = compile_fx(spare, static, config_patches=options | {"cpp_wrapper": False})
            except Exception:  # noqa: BLE001  (not the wrapper's fault: the first error is the one to see)
                raise e from None
            print(f"unigen: inductor's C++ wrapper could not compile the traced update ({type(e).__name__}: "
                  f"{first_line(e, '')[:160]}); its kernels are called from Python instead "
                  f"(TORCHINDUCTOR_CPP_WRAPPER=0 skips the attempt)", file=sys.stderr, flush=True)
            return run
