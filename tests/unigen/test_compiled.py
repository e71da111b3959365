"""train.compile=cudagraph: refusals with a fix everywhere; on a GPU, captured steps equal eager steps."""
import dataclasses
import gc
from typing import ClassVar

import pyro
import pytest
import torch
from torch.testing import assert_close

from unigen import Trainer
from unigen.cli import main
from unigen.execution import check_compile
from unigen.config import OptimConfig
from unigen.errors import UserError
from unigen.inference.gan_nonsaturating import NonSaturatingGAN as NSGAN
from unigen.registry import STRATEGIES
from unigen.needs import Needs
from unigen.optim import make_optimizer

from probes import RING, TINY
from toys import contract_setup, stopped_at

CUDA = torch.device("cuda")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


# ----------------------------------------------------------------------------------- refusals (CPU)
@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="jit"), "unknown train.compile='jit'"),
    (dict(device=torch.device("cpu")), "set train.device=cuda"),
    (dict(capturable="it branches on labels"), "cannot be captured in a CUDA graph (it branches on labels)"),
    (dict(skip_nonfinite=True), "use train.on_nan=error"),
    (dict(world_size=2), "single process"),
])
def test_refusals_name_the_problem_and_the_fix(kwargs, message):
    args = dict(mode="cudagraph", device=CUDA, strategy_name="ns_gan", capturable=True, skip_nonfinite=False,
                world_size=1) | kwargs
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_compile(**args)


def test_eager_and_valid_cudagraph_settings_pass():
    check_compile("none", torch.device("cpu"), "ns_gan", "any reason", True, 4)
    check_compile("cudagraph", CUDA, "ns_gan", True, False, 1)


def test_a_strategy_declared_uncapturable_is_refused_by_the_trainer():
    @dataclasses.dataclass(frozen=True)
    class HostBound(NSGAN):
        needs: ClassVar[Needs] = Needs(("model", "discriminator"), capturable="it reads its loss on the host")

    programs, data = contract_setup(HostBound())
    with pytest.raises(UserError, match="needs a CUDA device"):  # CPU here: the device is checked first
        Trainer(programs, HostBound(), data, batch_size=8, compile="cudagraph")
    with pytest.raises(UserError, match="reads its loss on the host"):
        check_compile("cudagraph", CUDA, "host_bound", HostBound.needs.capturable, False, 1)


def test_cli_refuses_cudagraph_on_cpu_in_one_line(tmp_path, capsys):
    code = main(["train", "experiments/configs/ring_gan.yaml", "train.steps=2", "train.device=cpu",
                 "train.compile=cudagraph", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "train.compile=cudagraph needs a CUDA device" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_capturable_optimisers_keep_rates_in_tensors_and_sgd_schedules_are_refused():
    p = [torch.nn.Parameter(torch.zeros(3))]
    adam = make_optimizer(p, OptimConfig(name="adam", lr=3e-4), capturable=True)
    assert adam.defaults["capturable"] and isinstance(adam.param_groups[0]["lr"], torch.Tensor)
    assert float(adam.param_groups[0]["lr"]) == pytest.approx(3e-4)
    sgd = make_optimizer(p, OptimConfig(name="sgd", lr=0.1), capturable=True)
    assert sgd.param_groups[0]["lr"] == 0.1
    with pytest.raises(UserError, match="needs schedule=constant"):
        make_optimizer(p, OptimConfig(name="sgd", lr=0.1, schedule="cosine"), capturable=True)


# ----------------------------------------------------------------------------------- equality (GPU)
def _train(name, compile, steps, optim=OptimConfig(lr=1e-3), state=None, total=0):
    strategy = STRATEGIES.get(name)()
    pyro.set_rng_seed(0)
    pyro.enable_validation(False)
    programs, data = contract_setup(strategy)
    programs, data = programs.to(CUDA), data.to(CUDA)
    trainer = Trainer(programs, strategy, data, batch_size=32, optim=optim, compile=compile,
                      total_steps=total or steps)
    if state is not None:
        trainer.load_state_dict(state)
    torch.cuda.manual_seed(1)
    losses = [{k: v.clone() for k, v in trainer.step().items()} for _ in range(steps - trainer.step_count)]
    return trainer, losses


@needs_cuda
@pytest.mark.parametrize("name", [n for n in STRATEGIES.names() if STRATEGIES.get(n)().needs.capturable is True])
def test_captured_steps_equal_eager_steps(name):
    eager, eager_losses = _train(name, "none", 6)
    graphed, graphed_losses = _train(name, "cudagraph", 6)
    assert graphed.graphed.graph is not None, "the last steps must have been replayed"
    for i, (a, b) in enumerate(zip(eager_losses, graphed_losses)):
        assert_close(b, a, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}, step {i}: {m}")
    assert_close(dict(graphed.programs.named_parameters()), dict(eager.programs.named_parameters()),
                 rtol=1e-4, atol=1e-5)


@needs_cuda
def test_a_cosine_schedule_moves_between_replays_like_eager():
    optim = OptimConfig(lr=1e-2, schedule="cosine", warmup=2)
    eager, _ = _train("ns_gan", "none", 8, optim)
    graphed, _ = _train("ns_gan", "cudagraph", 8, optim)
    for player in eager.optimizers:
        assert_close(float(graphed.optimizers[player].param_groups[0]["lr"]),
                     float(eager.optimizers[player].param_groups[0]["lr"]))
    assert_close(dict(graphed.programs.named_parameters()), dict(eager.programs.named_parameters()),
                 rtol=1e-4, atol=1e-5)


@needs_cuda
def test_a_graphed_run_resumed_from_a_checkpoint_continues_identically():
    whole, _ = _train("elbo", "cudagraph", 9)
    half, _ = _train("elbo", "cudagraph", 5, total=9)
    state = half.state_dict()
    rng = torch.cuda.get_rng_state()
    resumed, _ = _train("elbo", "cudagraph", 5, state=state, total=9)  # loads, then steps to 5: none
    torch.cuda.set_rng_state(rng)
    for _ in range(4):
        resumed.step()
    assert resumed.graphed.graph is not None
    assert_close(dict(resumed.programs.named_parameters()), dict(whole.programs.named_parameters()),
                 rtol=1e-4, atol=1e-5)


@needs_cuda
def test_the_cli_trains_a_graphed_run_end_to_end(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "experiments/configs/ring_gan.yaml", "train.steps=120", "train.device=cuda",
                 "train.compile=cudagraph", "train.log_every=40", "--out", str(run)]) == 0
    assert (run / "checkpoint.pt").is_file() and (run / "eval.json").is_file()


@needs_cuda
def test_a_second_capture_survives_garbage_collection_of_the_first_graph():
    first, _ = _train("ns_gan", "cudagraph", 4)
    cycle = {"trainer": first}
    cycle["self"] = cycle  # the first trainer (and its graph) become cyclic garbage
    del first, cycle
    threshold = gc.get_threshold()
    gc.set_threshold(1)  # collect on (almost) every allocation, as a long run eventually does
    try:
        second, losses = _train("ns_gan", "cudagraph", 4)
    finally:
        gc.set_threshold(*threshold)
    assert second.graphed.graph is not None and all(torch.isfinite(v).all() for v in losses[-1].values())


@needs_cuda
@pytest.mark.parametrize("compile", ["none", "cudagraph"])
def test_a_cuda_run_stopped_mid_way_resumes_from_its_checkpoint_as_if_uninterrupted(tmp_path, monkeypatch, compile):
    # the checkpoint is loaded onto the GPU (map_location=cuda), random states included: they must go back to the
    # CPU (unigen.checkpoint.set_rng_state), or the resume is refused as a damaged checkpoint
    from unigen import checkpoint
    from unigen.run import train

    args = [*TINY, "train.steps=30", "train.device=cuda", f"train.compile={compile}"]
    full = train(RING, args, out=str(tmp_path / "full"))
    with stopped_at(monkeypatch, 12):
        part = train(RING, args, out=str(tmp_path / "part"))
    assert checkpoint.load(part / "checkpoint.pt")["step"] == 12
    train(resume=part)
    for name, value in checkpoint.load(full / "checkpoint.pt")["programs"].items():
        assert_close(checkpoint.load(part / "checkpoint.pt")["programs"][name], value, rtol=1e-4, atol=1e-5, msg=name)
